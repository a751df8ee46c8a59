import { MeshNodeError } from './errors.ts'

/**
 * Circuit relay v2 among members (`options.relay`): which members serve it, how many relay slots
 * a member keeps, and the limits a relay puts on what it carries. Plain data, one defaults
 * object; relay-services.ts turns it into libp2p's circuit relay server and transport.
 */

/** `on`: serve; `off`: never; `auto`: serve while the node has a public (or announced) address. */
export type RelayServerMode = 'auto' | 'on' | 'off'

export interface RelayOptions {
  /**
   * The circuit relay transport: dial members through member relays, and accept relayed
   * connections. Off turns every part of relaying off (server and reservations too).
   */
  enabled: boolean
  /** Serve circuit relay v2 to authenticated members. */
  server: RelayServerMode
  /**
   * Relay slots (reservations) this node keeps, each on a different member relay, found through
   * the members it authenticates with (bootstrap, DHT, discovery). Two: one relay can go down
   * or restart without leaving the node unreachable. 0 keeps none.
   */
  reservations: number
  /** Server side: reservations granted at once, all members together (library default 15). */
  maxReservations: number
  /**
   * Server side: lifetime of a reservation, ms. The holder refreshes it 5 min before it ends
   * (library rule); one hour lets a relay forget a member that went away within the hour.
   */
  reservationTtlMs: number
  /**
   * Server side: longest life of one relayed connection, ms; 0 for none. When it ends the two
   * members redial (through the relay again unless a direct path appeared) and re-authenticate:
   * an hour keeps that rare while bounding how long one circuit can hold a relay.
   */
  durationLimitMs: number
  /**
   * Server side: bytes one relayed connection may carry (both directions), 0 for none. Mesh
   * traffic on a link is gossip (signatures under 1 KiB, CRLs of tens of KiB), re-auth and
   * attestation every few hours, and DTN bundles; 64 MiB is hours of that, where libp2p's
   * 128 KiB default would end a circuit within minutes of gossip.
   */
  dataLimitBytes: number
  /**
   * Server side: relayed connections one member may open through us at once over one
   * connection (hop streams per connection): the per-source bound of the relay's work.
   */
  maxCircuitsPerPeer: number
  /** Server side: relayed connections to one member at once (stop streams per destination connection). */
  maxCircuitsToPeer: number
  /** Server side: deadline of one hop request (reserve or connect), ms (library default 30 s). */
  hopTimeoutMs: number
  /** Client side: deadline of one reservation attempt, dial included, ms. */
  reservationTimeoutMs: number
}

export const RELAY_DEFAULTS: RelayOptions = {
  enabled: true,
  server: 'auto',
  reservations: 2,
  maxReservations: 64,
  reservationTtlMs: 60 * 60 * 1000,
  durationLimitMs: 60 * 60 * 1000,
  dataLimitBytes: 64 * 1024 * 1024,
  maxCircuitsPerPeer: 16,
  maxCircuitsToPeer: 64,
  hopTimeoutMs: 10_000,
  reservationTimeoutMs: 10_000
}

/** The upper bound of every count here: far above any mesh size a relay should carry. */
const MAX_COUNT = 10_000

/** Checks merged relay options; throws MeshNodeError CONFIG_INVALID naming the key. */
export function checkRelayOptions (o: RelayOptions): RelayOptions {
  if (typeof o.enabled !== 'boolean') { throw invalid('relay.enabled must be true or false') }
  if (!['auto', 'on', 'off'].includes(o.server)) { throw invalid('relay.server must be auto, on or off') }
  count('relay.reservations', o.reservations, 0)
  count('relay.maxReservations', o.maxReservations, 1)
  count('relay.maxCircuitsPerPeer', o.maxCircuitsPerPeer, 1)
  count('relay.maxCircuitsToPeer', o.maxCircuitsToPeer, 1)
  // A reservation shorter than the holder's refresh lead (5 min, 30 s at least) would lapse between refreshes.
  between('relay.reservationTtlMs', o.reservationTtlMs, 60_000, 24 * 3600_000)
  between('relay.durationLimitMs', o.durationLimitMs, 0, 24 * 3600_000)
  between('relay.dataLimitBytes', o.dataLimitBytes, 0, Number.MAX_SAFE_INTEGER)
  between('relay.hopTimeoutMs', o.hopTimeoutMs, 100, 120_000)
  between('relay.reservationTimeoutMs', o.reservationTimeoutMs, 100, 120_000)
  if (o.durationLimitMs > 0 && o.durationLimitMs < 1000) { throw invalid('relay.durationLimitMs must be 0 (none) or at least 1000') }
  return o
}

function count (name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min || v > MAX_COUNT) { throw invalid(`${name} must be an integer from ${min} to ${MAX_COUNT}`) }
}

function between (name: string, v: number, min: number, max: number): void {
  if (!Number.isFinite(v) || v < min || v > max) { throw invalid(`${name} must be a number from ${min} to ${max}`) }
}

function invalid (message: string): MeshNodeError {
  return new MeshNodeError('CONFIG_INVALID', message)
}
