import { fork } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ShardRuntime } from '../shard/runtime.ts'
import type { FromShard, ShardInit, ToShard } from '../shard/types.ts'
import type { ChildProcess } from 'node:child_process'

export interface ShardProgress { deliveries: number, publishes: number, up: number }

/** One shard as the coordinator drives it: the same steps whether it runs in process or not. */
export interface ShardHandle {
  step(msg: ToShard): Promise<Record<string, number> | undefined>
  progress(): Promise<ShardProgress>
  kill(): void
}

/** A shard inside the coordinator's process (tests, and runs with one shard). */
export function inProcessShard (init: ShardInit): ShardHandle {
  const rt = new ShardRuntime(init)
  return {
    step: async (msg) => {
      switch (msg.op) {
        case 'init': await rt.setup(); return
        case 'bridge': await rt.connectBridge(); return
        case 'form': return rt.form()
        case 'warm': return rt.warm(msg.timeoutMs, msg.minMs)
        case 'traffic': await rt.traffic(msg.t0); return
        case 'finish': await rt.finish(); return
        default: return undefined
      }
    },
    progress: async () => ({ deliveries: rt.deliveries, publishes: rt.publishes, up: rt.local.filter(n => n.running).length }),
    kill: () => {}
  }
}

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'shard', 'main.ts')

/**
 * A shard in its own Node process, so that each core runs its own event loop. The heap limit is
 * raised (a shard of 500 nodes holds more than V8's default old space) and so is the young
 * generation: libp2p allocates short-lived buffers per frame, and 64 MB semi-spaces cut scavenges.
 */
export function processShard (init: ShardInit): ShardHandle {
  const child: ChildProcess = fork(MAIN, [], {
    serialization: 'advanced',
    execArgv: [...process.execArgv.filter(a => !a.startsWith('--max-old-space-size')), '--max-old-space-size=12288', '--max-semi-space-size=64', ...(process.env.SIM_SHARD_PROF != null ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SIM_SHARD_PROF}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  let waiting: { step: string, resolve(v: any): void, reject(e: Error): void } | undefined
  let progressWaiter: ((p: ShardProgress) => void) | undefined
  child.on('message', (m: FromShard) => {
    if (m.op === 'progress') { progressWaiter?.(m); progressWaiter = undefined; return }
    const w = waiting
    waiting = undefined
    if (w == null) { return }
    if (m.op === 'error') { w.reject(new Error(`shard ${init.shard} failed in ${m.step}: ${m.message}\n${m.stack ?? ''}`)) } else { w.resolve(m.info) }
  })
  child.on('exit', (code) => {
    if (waiting != null && code !== 0) { waiting.reject(new Error(`shard ${init.shard} exited with ${code} during ${waiting.step}`)) }
  })
  let first = true
  return {
    step: async (msg) => {
      const send: ToShard = first ? { op: 'init', init } : msg
      first = false
      return new Promise((resolve, reject) => {
        waiting = { step: send.op, resolve, reject }
        child.send(send)
      })
    },
    progress: async () => new Promise<ShardProgress>((resolve) => {
      if (child.exitCode != null || !child.connected) { resolve({ deliveries: 0, publishes: 0, up: 0 }); return }
      progressWaiter = resolve
      child.send({ op: 'progress' })
      setTimeout(() => { resolve({ deliveries: 0, publishes: 0, up: 0 }) }, 1000)
    }),
    kill: () => { if (child.exitCode == null) { child.kill('SIGKILL') } }
  }
}
