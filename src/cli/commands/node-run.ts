import { pino } from 'pino'
import { readBootstrapFile } from '../../daemon/runtime/bootstrap-list.ts'
import { NodeRuntimeError } from '../../daemon/runtime/errors.ts'
import { startNodeRuntime } from '../../daemon/runtime/node-runtime.ts'
import { ON_REVOKED_VALUES } from '../../daemon/runtime/self-revocation.ts'
import { MAX_TTL_SEC } from '../../dtn/constants.ts'
import { REDACT_PATHS } from '../../http/request-log.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { EXIT, parseCommand, reportError, required, UsageError } from '../io.ts'
import { logDestination, logOptions } from '../log-options.ts'
import { checkMultiaddrs } from '../multiaddr-flags.ts'
import { NODE_RUN_OPTIONS } from '../specs/node-run.ts'
import { parseListen } from './ca-serve.ts'
import type { RuntimeDtnOptions } from '../../daemon/runtime/dtn.ts'
import type { NodeRuntime } from '../../daemon/runtime/node-runtime.ts'
import type { OnRevoked } from '../../daemon/runtime/self-revocation.ts'
import type { MeshNodeConfig } from '../../node/config.ts'
import type { CliIo } from '../io.ts'

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
  const { values } = parseCommand(args, { options: NODE_RUN_OPTIONS })
  const dir = required(values.dir, '--dir')
  // Every flag is checked before anything opens: a bad value exits 2 naming its flag.
  const logging = logOptions(values)
  checkMultiaddrs('--listen', values.listen)
  const announce = announceFlag(values.announce)
  const dhtMode = dhtModeFlag(values['dht-mode'])
  const circuitRelay = circuitRelayFlags(values['circuit-relay'], values['circuit-relay-slots'])
  const upnpGateways = upnpGatewayFlag(values['upnp-gateway'] ?? [])
  if (values['no-upnp'] && upnpGateways.length > 0) { throw new UsageError('give --upnp-gateway or --no-upnp, not both') }
  checkMultiaddrs('--bootstrap', values.bootstrap, { peerId: true })
  if (values['no-quic'] && values['no-tcp']) { throw new UsageError('--no-quic and --no-tcp leave no transport') }
  if (values['no-api'] && values.api != null) { throw new UsageError('give --api or --no-api, not both') }
  const api = values['no-api'] ? false : parseListen(values.api ?? '127.0.0.1:0', '--api')
  const crlIntervalMs = values['crl-interval'] != null ? parseMs(values['crl-interval'], '--crl-interval') : undefined
  const dtn = dtnFlags(values)
  const noticePollMs = values['notice-interval'] != null ? parseMs(values['notice-interval'], '--notice-interval') : undefined
  if (values['on-revoked'] != null && !ON_REVOKED_VALUES.includes(values['on-revoked'] as OnRevoked)) { throw new UsageError('--on-revoked must be exit or isolate') }
  const onRevokedFlag = values['on-revoked'] as OnRevoked | undefined
  const metrics = metricsFlags(values.metrics, values['ready-min-peers'], name === 'bootstrap-server' ? 0 : undefined)
  const fromFile = values['bootstrap-file'] != null ? await bootstrapFileFlag(values['bootstrap-file']) : []
  const log = pino({ level: logging.level, base: { svc: `dadm-mesh-${name}` }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime }, await logDestination(logging.format, io.stdout) as any)

  let runtime: NodeRuntime
  // Resolved by a CRL that revokes this node while it runs (with --on-revoked exit).
  let revoked: () => void = () => {}
  const revokedNow = new Promise<'revoked'>(resolve => { revoked = () => { resolve('revoked') } })
  try {
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const options: MeshNodeConfig = {
      ...profile,
      transports: { quic: !values['no-quic'], tcp: !values['no-tcp'] },
      bootstrap: [...fromFile, ...(values.bootstrap ?? [])],
      ...((values.listen ?? []).length > 0 ? { listen: values.listen } : {}),
      ...(announce.length > 0 ? { announce } : {}),
      ...(dhtMode != null ? { dht: { ...profile.dht, mode: dhtMode } } : {}),
      ...(values['no-mdns'] ? { mdns: { ...profile.mdns, enabled: false } } : {}),
      ...(circuitRelay != null ? { relay: { ...profile.relay, ...circuitRelay } } : {}),
      // A named gateway turns UPnP on (a bootstrap server too); --no-upnp turns it off.
      ...(values['no-upnp'] ? { upnp: { ...profile.upnp, enabled: false } } : {}),
      ...(upnpGateways.length > 0 ? { upnp: { ...profile.upnp, enabled: true, gateways: upnpGateways } } : {})
    }
    runtime = await startNodeRuntime({
      dir,
      passphrase,
      options,
      api,
      log,
      dtn,
      ...(crlIntervalMs != null ? { crl: { intervalMs: crlIntervalMs } } : {}),
      ...(noticePollMs != null ? { lifecycle: { noticePollMs } } : {}),
      ...(onRevokedFlag != null ? { onRevoked: onRevokedFlag } : {}),
      ...(metrics != null ? { metrics } : {}),
      onSelfRevoked: () => { revoked() }
    })
  } catch (err) {
    const code = reportError(io, err)
    return (err as { code?: unknown }).code === 'NODE_REVOKED' ? EXIT.REVOKED : code
  }
  const addrs = runtime.node.getMultiaddrs().map(String)
  io.stderr.write(values.json
    ? JSON.stringify({ event: 'listening', command: name, node_id: runtime.dir.nodeId, peer_id: runtime.dir.peerId, addrs, api_url: runtime.apiUrl ?? null, metrics_url: runtime.metricsUrl ?? null }) + '\n'
    : `dadm-mesh ${name}: node ${runtime.dir.nodeId} (peer ${runtime.dir.peerId}) listening on ${addrs.join(' ')}; api ${runtime.apiUrl ?? 'off'}; metrics ${runtime.metricsUrl ?? 'off'}\n`)
  const stopOnRevoked = runtime.selfRevocation.onRevoked === 'exit'
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
    if (stopOnRevoked) { void revokedNow.then(done) }
  })
  if (signal === 'revoked') {
    const r = runtime.selfRevocation.revoked
    io.stderr.write(`error: NODE_REVOKED: the certificate ${r?.revoked_serial ?? '?'} of ${runtime.dir.nodeId} is revoked (${r?.reason ?? '?'}, CRL ${r?.crl_number ?? '?'}); stopping. Enroll again with a new token (dadm-mesh node enroll).\n`)
    await runtime.stop()
    return EXIT.REVOKED
  }
  io.stderr.write(`dadm-mesh ${name}: ${signal}, stopping\n`)
  await runtime.stop()
  io.stderr.write(`dadm-mesh ${name}: stopped\n`)
  return EXIT.OK
}

/** `--upnp-gateway`: http:// URLs of UPnP IGD descriptors, at most 8 (each is fetched at start). */
function upnpGatewayFlag (values: string[]): string[] {
  if (values.length > 8) { throw new UsageError('--upnp-gateway is given more than 8 times') }
  for (const v of values) {
    if (!URL.canParse(v) || new URL(v).protocol !== 'http:') { throw new UsageError(`--upnp-gateway ${JSON.stringify(v)} must be an http:// URL of the router's UPnP descriptor`) }
  }
  return values
}

/** `--announce`: multiaddrs without /p2p/<PeerId> (the node adds its own), at most 32. */
function announceFlag (values: string[]): string[] {
  if (values.length > 32) { throw new UsageError('--announce is given more than 32 times') }
  checkMultiaddrs('--announce', values)
  for (const v of values) {
    if (/\/p2p\/[^/]+$/.test(v)) { throw new UsageError(`--announce ${JSON.stringify(v)} ends in /p2p/<PeerId>: give the address alone, the node adds its own`) }
  }
  return values
}

/** `--circuit-relay MODE` and `--circuit-relay-slots N`: the relay server mode and the reservations kept. */
function circuitRelayFlags (mode: string | undefined, slots: string | undefined): { server?: 'auto' | 'on' | 'off', reservations?: number } | undefined {
  if (mode == null && slots == null) { return undefined }
  if (mode != null && mode !== 'auto' && mode !== 'on' && mode !== 'off') { throw new UsageError('--circuit-relay must be auto, on or off') }
  if (slots != null && !/^\d{1,2}$/.test(slots)) { throw new UsageError('--circuit-relay-slots must be a whole number from 0 to 99') }
  return { ...(mode != null ? { server: mode } : {}), ...(slots != null ? { reservations: Number(slots) } : {}) }
}

function dhtModeFlag (value: string | undefined): 'auto' | 'server' | 'client' | undefined {
  if (value == null) { return undefined }
  if (value !== 'auto' && value !== 'server' && value !== 'client') { throw new UsageError('--dht-mode must be auto, server or client') }
  return value
}

/** Reads `--bootstrap-file`; a file that cannot be read or holds a bad line is a usage error naming the flag and the file. */
async function bootstrapFileFlag (path: string): Promise<string[]> {
  try {
    return await readBootstrapFile(path)
  } catch (err) {
    if (err instanceof NodeRuntimeError) { throw new UsageError(`--bootstrap-file: ${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}`) }
    throw err
  }
}

/**
 * `--metrics HOST:PORT` turns metrics and health on; `--ready-min-peers N` sets how many
 * authenticated members `/readyz` needs (a bootstrap server's default is 0: the first one of a
 * mesh has nobody yet, and an orchestrator starting bootstrap servers in order waits on it).
 */
function metricsFlags (listen: string | undefined, minPeers: string | undefined, roleDefault: number | undefined): { listen: { host: string, port: number }, readiness?: { minMembers: number } } | undefined {
  if (listen == null) {
    if (minPeers != null) { throw new UsageError('--ready-min-peers needs --metrics (it sets what /readyz there requires)') }
    return undefined
  }
  if (minPeers != null && (!/^\d{1,4}$/.test(minPeers))) { throw new UsageError('--ready-min-peers must be a whole number from 0 to 9999') }
  const minMembers = minPeers != null ? Number(minPeers) : roleDefault
  return { listen: parseListen(listen, '--metrics'), ...(minMembers != null ? { readiness: { minMembers } } : {}) }
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
