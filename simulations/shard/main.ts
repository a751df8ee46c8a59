import { ShardRuntime } from './runtime.ts'
import type { FromShard, ToShard } from './types.ts'

/**
 * A shard process: forked by the coordinator with an IPC channel (advanced serialization, so
 * key material and CRLs cross as bytes). It answers each step with `done` or `error`.
 */
let runtime: ShardRuntime | undefined

function send (msg: FromShard): void {
  process.send?.(msg)
}

process.on('message', (msg: ToShard) => {
  void handle(msg)
})

async function handle (msg: ToShard): Promise<void> {
  try {
    switch (msg.op) {
      case 'init':
        runtime = new ShardRuntime(msg.init)
        await runtime.setup()
        send({ op: 'done', step: 'init' })
        return
      case 'bridge':
        await runtime!.connectBridge()
        send({ op: 'done', step: 'bridge' })
        return
      case 'form':
        send({ op: 'done', step: 'form', info: await runtime!.form() })
        return
      case 'warm':
        send({ op: 'done', step: 'warm', info: await runtime!.warm(msg.timeoutMs, msg.minMs) })
        return
      case 'traffic':
        await runtime!.traffic(msg.t0)
        send({ op: 'done', step: 'traffic' })
        return
      case 'progress':
        send({ op: 'progress', deliveries: runtime?.deliveries ?? 0, publishes: runtime?.publishes ?? 0, up: runtime?.local.filter(n => n.running).length ?? 0 })
        return
      case 'finish':
        await runtime!.finish()
        send({ op: 'done', step: 'finish' })
        // Give the IPC message time to leave, then end: libp2p leaves no reason to linger.
        setTimeout(() => process.exit(0), 50)
        return
      default:
        send({ op: 'error', step: 'unknown', message: 'unknown step' })
    }
  } catch (err: any) {
    send({ op: 'error', step: msg.op, message: String(err?.message ?? err), stack: err?.stack })
  }
}
