import { pino } from 'pino'
import { readBootstrapFile } from '../../daemon/runtime/bootstrap-list.ts'
import { startNodeRuntime } from '../../daemon/runtime/node-runtime.ts'
import { MAX_TTL_SEC } from '../../dtn/constants.ts'
import { REDACT_PATHS } from '../../http/request-log.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { EXIT, parse, reportError, required, UsageError } from '../io.ts'
import { parseListen } from './ca-serve.ts'
import type { RuntimeDtnOptions } from '../../daemon/runtime/dtn.ts'
import type { NodeRuntime } from '../../daemon/runtime/node-runtime.ts'
import type { MeshNodeConfig } from '../../node/config.ts'
import type { CliIo } from '../io.ts'

/** The flags `node start` and `bootstrap-server` share. */
export const NODE_RUN_FLAGS = '--dir NODEDIR [--listen MULTIADDR]... [--bootstrap MULTIADDR]... [--bootstrap-file F] [--api HOST:PORT | --no-api] [--no-quic] [--no-tcp] [--no-mdns] [--crl-interval 60s] [--relay] [--relay-peer NODE_ID]... [--bundle-quota BYTES] [--bundle-max-lifetime 7d] [--carry missing|always|off] [--log-level info] [--passphrase-file F]'

/** Parses "500ms", "2s", "1m", "60" (seconds) into ms. */
export function parseMs (s: string, flag: string): number {
  const m = /^(\d{1,9})(ms|s|m|h)?$/.exec(s)
  if (m == null || Number(m[1]) === 0) { throw new UsageError(`${flag} must be a positive duration such as 500ms, 30s, 5m`) }
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  return Number(m[1]) * (unit[m[2] ?? 's'] as number)
}

/**
 * Runs an enrolled node until SIGTERM or SIGINT, then stops it cleanly (admin API, CRL poll,
 * libp2p, store, run.json). `profile` is the role's own tuning (a bootstrap server's limits),
 * under what the flags set.
 */
export async function runNode (name: string, args: string[], io: CliIo, profile: MeshNodeConfig): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    listen: { type: 'string', multiple: true, default: [] },
    bootstrap: { type: 'string', multiple: true, default: [] },
    'bootstrap-file': { type: 'string' },
    api: { type: 'string' },
    'no-api': { type: 'boolean', default: false },
    'no-quic': { type: 'boolean', default: false },
    'no-tcp': { type: 'boolean', default: false },
    'no-mdns': { type: 'boolean', default: false },
    'crl-interval': { type: 'string' },
    relay: { type: 'boolean', default: false },
    'relay-peer': { type: 'string', multiple: true, default: [] },
    'bundle-quota': { type: 'string' },
    'bundle-max-lifetime': { type: 'string' },
    carry: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    'passphrase-file': { type: 'string' }
  })
  const dir = required(values.dir, '--dir')
  if (values['no-quic'] && values['no-tcp']) { throw new UsageError('--no-quic and --no-tcp leave no transport') }
  if (values['no-api'] && values.api != null) { throw new UsageError('give --api or --no-api, not both') }
  const api = values['no-api'] ? false : parseListen(values.api ?? '127.0.0.1:0')
  const crlIntervalMs = values['crl-interval'] != null ? parseMs(values['crl-interval'], '--crl-interval') : undefined
  const dtn = dtnFlags(values)
  const log = pino({ level: values['log-level'] ?? 'info', base: { svc: `dadm-mesh-${name}` }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime }, io.stdout as any)

  let runtime: NodeRuntime
  try {
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const fromFile = values['bootstrap-file'] != null ? await readBootstrapFile(values['bootstrap-file']) : []
    const options: MeshNodeConfig = {
      ...profile,
      transports: { quic: !values['no-quic'], tcp: !values['no-tcp'] },
      bootstrap: [...fromFile, ...(values.bootstrap ?? [])],
      ...((values.listen ?? []).length > 0 ? { listen: values.listen } : {}),
      ...(values['no-mdns'] ? { mdns: { ...profile.mdns, enabled: false } } : {})
    }
    runtime = await startNodeRuntime({ dir, passphrase, options, api, log, dtn, ...(crlIntervalMs != null ? { crl: { intervalMs: crlIntervalMs } } : {}) })
  } catch (err) {
    return reportError(io, err)
  }
  const addrs = runtime.node.getMultiaddrs().map(String).join(' ')
  io.stderr.write(`dadm-mesh ${name}: node ${runtime.dir.nodeId} (peer ${runtime.dir.peerId}) listening on ${addrs}; api ${runtime.apiUrl ?? 'off'}\n`)
  const signal = await new Promise<string>(resolve => {
    const onTerm = (): void => { done('SIGTERM') }
    const onInt = (): void => { done('SIGINT') }
    const done = (s: string): void => {
      process.off('SIGTERM', onTerm)
      process.off('SIGINT', onInt)
      resolve(s)
    }
    process.on('SIGTERM', onTerm)
    process.on('SIGINT', onInt)
  })
  io.stderr.write(`dadm-mesh ${name}: ${signal}, stopping\n`)
  await runtime.stop()
  io.stderr.write(`dadm-mesh ${name}: stopped\n`)
  return EXIT.OK
}

/**
 * The DTN flags: `--relay` flags this node as a relay (peers prefer it when spraying),
 * `--relay-peer` names peers to prefer, `--bundle-quota` sizes the bundle store,
 * `--bundle-max-lifetime` caps how long a received bundle is kept, `--carry` says
 * when anomaly signatures and CRLs also travel as bundles. Absent flags leave node.json's `dtn`
 * section and the defaults in force.
 */
function dtnFlags (values: { relay?: boolean, 'relay-peer'?: string[], 'bundle-quota'?: string, 'bundle-max-lifetime'?: string, carry?: string }): RuntimeDtnOptions {
  const out: RuntimeDtnOptions = {}
  if (values.relay === true) { out.relay = true }
  if ((values['relay-peer'] ?? []).length > 0) { out.relays = values['relay-peer'] }
  if (values['bundle-quota'] != null) {
    if (!/^\d{1,15}$/.test(values['bundle-quota']) || Number(values['bundle-quota']) < 1) { throw new UsageError('--bundle-quota must be a positive number of bytes') }
    out.quotaBytes = Number(values['bundle-quota'])
  }
  if (values['bundle-max-lifetime'] != null) { out.maxLifetimeSec = parseLifetimeSec(values['bundle-max-lifetime']) }
  if (values.carry != null) {
    if (values.carry !== 'missing' && values.carry !== 'always' && values.carry !== 'off') { throw new UsageError('--carry must be missing, always or off') }
    out.carry = { policy: values.carry }
  }
  return out
}

/**
 * Parses `--bundle-max-lifetime`: "7d", "36h", "90m", "3600s" or "3600" (seconds), between one
 * second and the 30 days a bundle may claim on the wire (more would cap nothing).
 */
export function parseLifetimeSec (s: string): number {
  const m = /^(\d{1,9})(s|m|h|d)?$/.exec(s)
  const unit: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }
  const sec = m == null ? 0 : Number(m[1]) * (unit[m[2] ?? 's'] as number)
  if (sec < 1 || sec > MAX_TTL_SEC) { throw new UsageError(`--bundle-max-lifetime must be a duration from 1s to ${MAX_TTL_SEC / 86_400}d, such as 7d or 36h`) }
  return sec
}
