import { NodeRuntimeError } from './errors.ts'
import type { MeshNodeConfig } from '../../node/config.ts'
import type { RelayOptions } from '../../node/relay-options.ts'
import type { RelayStatus } from '../../node/relay-status.ts'
import type { NodeRelayConfig } from '../enroll/node-files.ts'

/**
 * node.json's `relay` block (circuit relay v2 among members), in node.json's snake_case:
 *
 * ```json
 * "relay": { "server": "auto", "reservations": 2, "data_limit_bytes": 67108864 }
 * ```
 *
 * Every key is optional; the command-line flags override it, and src/node/relay-options.ts holds
 * the defaults, the ranges and why. A key this node does not know, or a value of the wrong type,
 * refuses the start (NODE_DIR_INVALID naming the key) rather than running with a relay the
 * operator did not configure.
 */
const KEYS: Record<keyof NodeRelayConfig, keyof RelayOptions> = {
  enabled: 'enabled',
  server: 'server',
  reservations: 'reservations',
  max_reservations: 'maxReservations',
  reservation_ttl_ms: 'reservationTtlMs',
  duration_limit_ms: 'durationLimitMs',
  data_limit_bytes: 'dataLimitBytes',
  max_circuits_per_peer: 'maxCircuitsPerPeer',
  max_circuits_to_peer: 'maxCircuitsToPeer',
  hop_timeout_ms: 'hopTimeoutMs',
  reservation_timeout_ms: 'reservationTimeoutMs'
}

/** node.json's relay block as relay options; throws NodeRuntimeError NODE_DIR_INVALID naming the key. */
export function relayFromNodeFile (value: unknown): Partial<RelayOptions> {
  if (value == null) { return {} }
  if (typeof value !== 'object' || Array.isArray(value)) { throw invalid('node.json "relay" must be an object') }
  const out: Partial<Record<keyof RelayOptions, unknown>> = {}
  for (const [key, v] of Object.entries(value)) {
    const name = KEYS[key as keyof NodeRelayConfig]
    if (name == null) { throw invalid(`node.json "relay.${key}" is not a relay setting (known: ${Object.keys(KEYS).join(', ')})`) }
    if (key === 'enabled') {
      if (typeof v !== 'boolean') { throw invalid('node.json "relay.enabled" must be true or false') }
    } else if (key === 'server') {
      if (v !== 'auto' && v !== 'on' && v !== 'off') { throw invalid('node.json "relay.server" must be auto, on or off') }
    } else if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw invalid(`node.json "relay.${key}" must be a number`)
    }
    out[name] = v
  }
  return out as Partial<RelayOptions>
}

/** `config` with node.json's relay block under the relay options it already holds (flags win). */
export function withNodeFileRelay (file: { relay?: unknown }, config: MeshNodeConfig): MeshNodeConfig {
  const stored = relayFromNodeFile(file.relay)
  if (Object.keys(stored).length === 0) { return config }
  return { ...config, relay: { ...stored, ...config.relay } }
}

/** The relay state as GET /v1/node shows it (snake_case, like node.json). */
export function relayInfo (r: RelayStatus): { serving: boolean, reservations_granted: number, relayed_bytes: number, relays: string[], relayed_addrs: string[], refused: RelayStatus['refused'] } {
  return { serving: r.serving, reservations_granted: r.reservationsGranted, relayed_bytes: r.relayedBytes, relays: r.relays, relayed_addrs: r.relayedAddrs, refused: r.refused }
}

function invalid (message: string): NodeRuntimeError {
  return new NodeRuntimeError('NODE_DIR_INVALID', message)
}
