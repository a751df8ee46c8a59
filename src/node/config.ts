import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_MAX_SKEW_MS as ANOMALY_DEFAULT_MAX_SKEW_MS, DEFAULT_SWEEP_INTERVAL_MS as ANOMALY_SWEEP_INTERVAL_MS, DEFAULT_TTL_MS as ANOMALY_DEFAULT_TTL_MS } from '../../protocols/anomaly-gossip/constants.ts'
import { DEFAULT_ROUND_TRIP_MS as ATTEST_DEFAULT_ROUND_TRIP_MS } from '../../protocols/attest/constants.ts'
import { DEFAULT_DEADLINE_MS, PREAUTH_DEFAULTS, SESSION_CHECK_MS } from '../../protocols/auth/constants.ts'
import { DEFAULT_DEADLINE_MS as REVOKE_DEFAULT_DEADLINE_MS } from '../../protocols/revoke/constants.ts'
import { GOSSIP_FANOUT_MAX, GOSSIP_FANOUT_MIN } from '../ca/config.ts'
import { MeshNodeError } from './errors.ts'
import { AUTONAT_DEFAULTS, checkAutonatOptions, checkDcutrOptions, checkUpnpOptions, DCUTR_DEFAULTS, UPNP_DEFAULTS } from './nat-options.ts'
import { checkRelayOptions, RELAY_DEFAULTS } from './relay-options.ts'
import type { BackoffPolicy } from './block-list.ts'
import type { DhtMode } from './dht-mode.ts'
import type { KeepAliveOptions } from './member-keeper.ts'
import type { AutonatOptions, DcutrOptions, UpnpOptions } from './nat-options.ts'
import type { RelayOptions } from './relay-options.ts'
import type { PreauthLimits } from '../../protocols/auth/preauth-limits.ts'

/**
 * The tunables of a mesh node: plain data (structuredClone-safe), one defaults object, every
 * number with the reason it has that value. Dependencies (keys, verifier, clock) are passed to
 * `createMeshNode` beside these, not inside them.
 */
export interface MeshNodeOptions {
  /** Listen multiaddrs. Empty means one wildcard address per enabled transport. */
  listen: string[]
  /**
   * Multiaddrs announced besides the listen addresses (a public address, a port forward). They
   * count as verified: libp2p's `appendAnnounce`, whose addresses need no AutoNAT confirmation
   * (plain `announce` would also hide the LAN and relayed addresses members need).
   */
  announce: string[]
  transports: {
    /** QUIC v1 (@chainsafe/libp2p-quic), the primary transport. */
    quic: boolean
    /** TCP + TLS 1.3 + yamux, for networks that block UDP. */
    tcp: boolean
  }
  /** Bootstrap peers (multiaddrs with /p2p/), from the enrollment config or a bootstrap-list file. */
  bootstrap: string[]
  mdns: {
    enabled: boolean
    /** Query interval, ms. */
    intervalMs: number
  }
  dht: {
    enabled: boolean
    /** Our own DHT, apart from any public one (DESIGN.md protocol table). */
    protocol: string
    /**
     * 'auto': answer DHT queries (server) when reachable, query only (client) behind NAT;
     * src/node/dht-mode.ts says how reachability is judged. 'server' / 'client' fix the mode.
     */
    mode: DhtMode
    /** Peers per k-bucket (kad-dht default, Kademlia's k). */
    kBucketSize: number
  }
  auth: {
    /** Whole-exchange deadline, ms (5 s: a slow or silent peer cannot hold an auth slot longer). */
    deadlineMs: number
    /**
     * Period of the session watch, ms of real time: ends sessions whose certificate
     * expired without a re-auth, asks peers near their expiry for their rotated certificate.
     * 0 turns it off (protocols/auth/constants.ts SESSION_CHECK_MS says why 1 s).
     */
    sessionCheckMs: number
    /**
     * Connections still waiting for auth: a global cap and a per-source cap (IPv4 address,
     * IPv6 /64), apart from `connectionManager.maxConnections`, and the back-off of a source
     * whose auths keep failing (protocols/auth/constants.ts PREAUTH_DEFAULTS says where each
     * number comes from; protocols/auth/preauth-limits.ts how they act).
     */
    preauth: PreauthLimits
  }
  discovery: {
    /** Dial peers that mDNS, the DHT or the peer store announce, while below `targetConnections`. */
    dialDiscovered: boolean
    /** Enough links for gossip (mesh degree 6-12) plus DHT neighbours; above this we stop dialling discoveries. */
    targetConnections: number
    /** Discovery dials in flight at once, so a burst of discoveries cannot flood the dialler. */
    maxDialsInFlight: number
  }
  connectionManager: {
    /** libp2p's default (300); a mesh node needs tens, bootstrap servers more. */
    maxConnections: number
    /**
     * Inbound connections still upgrading. libp2p's 10 is too few for a bootstrap server that
     * many nodes call at start (DESIGN.md machine facts); auth runs after the upgrade, so this
     * does not count it.
     */
    maxIncomingPendingConnections: number
    /**
     * Inbound connections accepted per remote host per second. libp2p's 5 trips when many nodes
     * share a host (loopback tests, NAT, simulations); 50 still stops a single host's flood.
     */
    inboundConnectionThreshold: number
    /** Whole dial, all addresses, ms (libp2p default 10 s). */
    dialTimeoutMs: number
    /** TLS + muxer upgrade of an inbound connection, ms: the QUIC handshake timeout is 5 s too. */
    inboundUpgradeTimeoutMs: number
  }
  attest: {
    /** Re-attestation interval, ms; null takes the CA policy's recheck_interval_seconds (1 h by default). */
    intervalMs: number | null
    /** Deadline of one challenge round trip, ms (a hardware TPM quote is several tpm2-tools runs). */
    roundTripMs: number
    /** Least time between two answers to one verifier, ms: bounds the TPM work a peer can cause. */
    minProverIntervalMs: number
    /** Retry delay after a transient failure (prover busy, connection gone), ms. */
    retryMs: number
  }
  /**
   * Redial of bootstrap peers and recent members, and the target number of members
   * (src/node/member-keeper.ts). The target applies only with `discovery.dialDiscovered`.
   */
  keepAlive: KeepAliveOptions
  /** Back-off of peers that fail auth (REVOKED is permanent). */
  backoff: BackoffPolicy
  peerTable: {
    /** Peers remembered at most, disconnected ones evicted first; far above any mesh degree. */
    maxEntries: number
  }
  /** Anomaly and CRL gossip (gossipsub) and the revoke push protocol. */
  gossip: {
    /**
     * On by default: it is the mesh's main traffic and half of revocation. Off leaves a node
     * without gossipsub, anomaly store or revoke push (simulations comparing against plain
     * links; suites of other layers). When on, `createMeshNode` needs `chainVerifier` and `store`.
     */
    enabled: boolean
    /**
     * gossipsub's P6 IP-colocation weight; null keeps the mesh default (-5, see
     * protocols/mesh-gossipsub/gossipsub-options.ts). 0 only where many nodes share one address
     * (DESIGN.md: on one loopback address it drops 6 to 8% of messages).
     */
    ipColocationFactorWeight: number | null
    /** gossipsub mesh degree D (node.json `gossip_fanout`, from the CA), 2..16; null: gossipsub's 6. */
    fanout: number | null
    /** Clock tolerance of both validators, ms (default +-5 min; meshes with poorer clocks raise it). */
    maxSkewMs: number
    /** Lifetime of a published signature when the caller names none, ms (one hour of relevance). */
    defaultTtlMs: number
    /** How often expired signatures are swept from the anomaly store, ms; 0 disables it. */
    sweepIntervalMs: number
    /** Deadline of one revoke push (stream open, CRL out, answer back), ms. */
    pushDeadlineMs: number
  }
  /** Circuit relay v2 among members: serving, reservations, limits (relay-options.ts says why each value). */
  relay: RelayOptions
  /** AutoNAT v2 among members: confirms public addresses (src/node/autonat.ts). */
  autonat: AutonatOptions
  /** Direct upgrade of relayed member connections (src/node/dcutr.ts says what it can do). */
  dcutr: DcutrOptions
  /** UPnP port mapping on the local gateway (src/node/upnp.ts). */
  upnp: UpnpOptions
}

export const MESH_NODE_DEFAULTS: MeshNodeOptions = {
  listen: [],
  announce: [],
  transports: { quic: true, tcp: true },
  bootstrap: [],
  mdns: { enabled: true, intervalMs: 10_000 },
  dht: { enabled: true, protocol: '/dadm-mesh/kad/1.0.0', mode: 'auto', kBucketSize: 20 },
  auth: { deadlineMs: DEFAULT_DEADLINE_MS, sessionCheckMs: SESSION_CHECK_MS, preauth: { ...PREAUTH_DEFAULTS } },
  // protocols/attest/constants.ts says where these come from
  attest: { intervalMs: null, roundTripMs: ATTEST_DEFAULT_ROUND_TRIP_MS, minProverIntervalMs: 1_000, retryMs: 30_000 },
  discovery: { dialDiscovered: true, targetConnections: 32, maxDialsInFlight: 8 },
  connectionManager: {
    maxConnections: 300,
    maxIncomingPendingConnections: 64,
    inboundConnectionThreshold: 50,
    dialTimeoutMs: 10_000,
    inboundUpgradeTimeoutMs: 5_000
  },
  keepAlive: {
    enabled: true,
    // Above gossipsub's mesh degree (6): every member keeps a full gossip mesh of its own links.
    targetMembers: 8,
    maxMembers: 32,
    // An hour: a member back from a longer absence is found again through bootstrap and the DHT.
    memberForMs: 60 * 60 * 1000,
    // 1 s first (a restarted peer is back in a moment); the cap bounds how long after a link
    // returns the next attempt comes; the jitter is [step/2, step] (src/node/redial-backoff.ts).
    // An attempt into a dead link lasts the QUIC handshake timeout (5 s), whose retransmits stop
    // after 3 s: a 2 s cap keeps the silence after a restore under 4 s, at about one attempt per
    // peer every 6 to 7 s while it is away (a 5 s cap: every 7.5 to 10 s, silence up to 7 s).
    redial: { initialMs: 1_000, factor: 2, maxMs: 2_000 },
    // To get a connection open: libp2p tries a peer's addresses one after another (a relayed one
    // first needs its relay), and QUIC gives up on one after its 5 s handshake timeout. A
    // connection open by then, still in mutual auth, gets as long again (member-keeper.ts).
    attemptTimeoutMs: 8_000,
    checkMs: 5_000,
    dhtQueryMs: 60_000,
    // A provider lookup is one round trip to the few servers near the key, cheap enough to repeat
    // while members are missing: members behind NATs meet only through it.
    rendezvousMs: 10_000,
    maxRefillDials: 4
  },
  backoff: {
    // 30 s first: long enough that a refused peer cannot hammer us, short enough that an honest
    // peer refused for a transient reason (clock skew, CRL not fetched yet) returns soon.
    initialMs: 30_000,
    factor: 2,
    // One hour at most: a refused peer retries a handful of times a day.
    maxMs: 60 * 60 * 1000,
    // A day without failures wipes the slate (the default certificate lifetime, DESIGN.md).
    forgetAfterMs: 24 * 60 * 60 * 1000,
    maxEntries: 10_000
  },
  peerTable: { maxEntries: 10_000 },
  // protocols/anomaly-gossip/constants.ts and protocols/revoke/constants.ts say where these come from
  gossip: {
    enabled: true,
    ipColocationFactorWeight: null,
    fanout: null,
    maxSkewMs: ANOMALY_DEFAULT_MAX_SKEW_MS,
    defaultTtlMs: ANOMALY_DEFAULT_TTL_MS,
    sweepIntervalMs: ANOMALY_SWEEP_INTERVAL_MS,
    pushDeadlineMs: REVOKE_DEFAULT_DEADLINE_MS
  },
  relay: { ...RELAY_DEFAULTS },
  autonat: { ...AUTONAT_DEFAULTS },
  dcutr: { ...DCUTR_DEFAULTS },
  upnp: { ...UPNP_DEFAULTS, gateways: [] }
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends Array<infer U> ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K] }

/** Options as a caller gives them: any subset, merged over the defaults. */
export type MeshNodeConfig = DeepPartial<MeshNodeOptions>

/** Merges `config` over the defaults (one level of nesting) and checks the result. */
export function resolveOptions (config: MeshNodeConfig = {}): MeshNodeOptions {
  const d = MESH_NODE_DEFAULTS
  const o: MeshNodeOptions = {
    listen: [...(config.listen ?? d.listen)],
    announce: [...(config.announce ?? d.announce)],
    transports: { ...d.transports, ...config.transports },
    bootstrap: [...(config.bootstrap ?? d.bootstrap)],
    mdns: { ...d.mdns, ...config.mdns },
    dht: { ...d.dht, ...config.dht },
    auth: { ...d.auth, ...config.auth, preauth: { ...d.auth.preauth, ...config.auth?.preauth } },
    attest: { ...d.attest, ...config.attest },
    discovery: { ...d.discovery, ...config.discovery },
    connectionManager: { ...d.connectionManager, ...config.connectionManager },
    keepAlive: { ...d.keepAlive, ...config.keepAlive, redial: { ...d.keepAlive.redial, ...config.keepAlive?.redial } },
    backoff: { ...d.backoff, ...config.backoff },
    peerTable: { ...d.peerTable, ...config.peerTable },
    gossip: { ...d.gossip, ...config.gossip },
    relay: checkRelayOptions({ ...d.relay, ...config.relay }),
    autonat: checkAutonatOptions({ ...d.autonat, ...config.autonat }, invalid),
    dcutr: checkDcutrOptions({ ...d.dcutr, ...config.dcutr }, invalid),
    upnp: { ...d.upnp, ...config.upnp, gateways: [...(config.upnp?.gateways ?? d.upnp.gateways)] }
  }
  if (!o.transports.quic && !o.transports.tcp) { throw invalid('at least one transport must be enabled') }
  checkUpnpOptions(o.upnp, o.autonat.enabled, invalid)
  if (o.listen.length === 0) {
    if (o.transports.quic) { o.listen.push('/ip4/0.0.0.0/udp/0/quic-v1') }
    if (o.transports.tcp) { o.listen.push('/ip4/0.0.0.0/tcp/0') }
  }
  for (const addr of o.listen) {
    if (addr.includes('/quic-v1') && !o.transports.quic) { throw invalid(`listen address ${addr} needs QUIC, which is disabled`) }
    if (addr.includes('/tcp/') && !o.transports.tcp) { throw invalid(`listen address ${addr} needs TCP, which is disabled`) }
  }
  for (const addr of o.bootstrap) {
    if (!addr.includes('/p2p/')) { throw invalid(`bootstrap address ${addr} lacks /p2p/<peerId>`) }
  }
  for (const addr of o.announce) {
    try {
      multiaddr(addr)
    } catch (err) {
      throw invalid(`announce address ${addr} is not a multiaddr`, err)
    }
    if (addr.includes('/p2p/') && !addr.includes('/p2p-circuit')) { throw invalid(`announce address ${addr} must not name a peer (/p2p/): the node adds its own`) }
  }
  if (o.gossip.fanout != null && (!Number.isInteger(o.gossip.fanout) || o.gossip.fanout < GOSSIP_FANOUT_MIN || o.gossip.fanout > GOSSIP_FANOUT_MAX)) {
    throw invalid(`gossip.fanout (node.json config.gossip_fanout) must be a whole number from ${GOSSIP_FANOUT_MIN} to ${GOSSIP_FANOUT_MAX}, not ${String(o.gossip.fanout)}`)
  }
  if (!['auto', 'server', 'client'].includes(o.dht.mode)) { throw invalid('dht.mode must be auto, server or client') }
  for (const k of ['targetMembers', 'maxMembers'] as const) {
    if (!Number.isInteger(o.keepAlive[k]) || o.keepAlive[k] < 0) { throw invalid(`keepAlive.${k} must be a whole number, 0 or more`) }
  }
  for (const k of ['memberForMs', 'attemptTimeoutMs', 'checkMs', 'dhtQueryMs', 'rendezvousMs', 'maxRefillDials'] as const) { positive(`keepAlive.${k}`, o.keepAlive[k]) }
  positive('keepAlive.redial.initialMs', o.keepAlive.redial.initialMs)
  positive('keepAlive.redial.maxMs', o.keepAlive.redial.maxMs)
  if (o.keepAlive.redial.factor < 1) { throw invalid('keepAlive.redial.factor must be at least 1') }
  positive('auth.deadlineMs', o.auth.deadlineMs)
  for (const [k, v] of Object.entries(o.auth.preauth)) { positive(`auth.preauth.${k}`, v) }
  // Members must always find a slot that no stranger can hold: a default cap shrinks to half of
  // a small maxConnections; a cap set that high is a contradiction.
  if (o.auth.preauth.maxPending >= o.connectionManager.maxConnections) {
    if (config.auth?.preauth?.maxPending != null) { throw invalid('auth.preauth.maxPending must be below connectionManager.maxConnections') }
    o.auth.preauth.maxPending = Math.max(1, Math.floor(o.connectionManager.maxConnections / 2))
  }
  positive('attest.roundTripMs', o.attest.roundTripMs)
  if (o.attest.intervalMs != null) { positive('attest.intervalMs', o.attest.intervalMs) }
  positive('backoff.initialMs', o.backoff.initialMs)
  positive('connectionManager.maxConnections', o.connectionManager.maxConnections)
  positive('discovery.maxDialsInFlight', o.discovery.maxDialsInFlight)
  positive('gossip.maxSkewMs', o.gossip.maxSkewMs)
  positive('gossip.defaultTtlMs', o.gossip.defaultTtlMs)
  positive('gossip.pushDeadlineMs', o.gossip.pushDeadlineMs)
  if (o.backoff.factor < 1) { throw invalid('backoff.factor must be at least 1') }
  return o
}

function positive (name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) { throw invalid(`${name} must be a positive number`) }
}

function invalid (message: string, cause?: unknown): MeshNodeError {
  return new MeshNodeError('CONFIG_INVALID', message, cause != null ? { cause } : undefined)
}
