import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TypedEventEmitter } from '@libp2p/interface'
import { BundleService } from '../../../protocols/bundle/bundle-service.ts'
import { RELAY_PROTOCOL } from '../../../protocols/bundle/constants.ts'
import { crlRevocationPredicate } from '../../../protocols/crl-gossip/revocation-predicate.ts'
import { BundleAgent } from '../../dtn/bundle-agent.ts'
import { BUNDLE_STORE_DEFAULTS, DEFAULT_SPRAY_COPIES, MAX_TTL_SEC } from '../../dtn/constants.ts'
import { BundleStore } from '../../dtn/store/bundle-store.ts'
import { peerVerifierFromChainVerifier } from '../../node/pki-peer-verifier.ts'
import { attestGatedBundleNode } from './dtn-attest-gate.ts'
import { startDtnCarry } from './dtn-carry.ts'
import { inboxRow, listBundles } from './dtn-listing.ts'
import type { CrlManager } from './crl-manager.ts'
import type { CarryOptions, DtnCarry } from './dtn-carry.ts'
import type { BundleListing, InboxRow } from './dtn-listing.ts'
import type { NodeDir } from './node-dir.ts'
import type { IdentitySigner } from '../../../protocols/auth/types.ts'
import type { DeliveredBundle, ReservedId, SendResult } from '../../dtn/bundle-agent.ts'
import type { BundleId } from '../../dtn/bundle-id.ts'
import type { Destination } from '../../dtn/eid.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { Crl } from '../../pki/crl.ts'
import type { PeerIdentity } from '../../pki/peer-verifier.ts'
import type { MeshStore } from '../../store/mesh-store.ts'
import type { Logger } from 'pino'

/**
 * DTN in a node process: one BundleStore on the runtime's one LevelDB, one BundleAgent
 * signing as the node (its identity key and chain), checking sources with the node's
 * ChainVerifier and the CRLs it installed, the `/dadm-mesh/bundle/1.0.0` service on the mesh
 * node, and revocation: every CRL the node installs (fetched, gossiped, pushed, carried) purges
 * what revoked sources signed. The library face is `NodeBundles`: `send`, `list`, `get` and the
 * `bundle:delivered` event.
 */

/** DTN tunables of a node process; all optional. Plain data. */
export interface NodeBundlesOptions {
  /**
   * This node offers itself as a relay: it registers RELAY_PROTOCOL, which identify shows to
   * peers, who then prefer it when spraying (a relay is chosen by its operator, in config, not
   * guessed from traffic). Every node still takes custody when asked. @default false
   */
  relay?: boolean
  /** node_ids to prefer as relays, from config, besides those that announce themselves. @default none */
  relays?: string[]
  /** @default BUNDLE_STORE_DEFAULTS.quotaBytes (256 MiB) */
  quotaBytes?: number
  /**
   * Longest a received bundle is kept, seconds from its creation (it is also kept no later than
   * its signer's certificate). @default BUNDLE_STORE_DEFAULTS.maxLifetimeSec (7 days)
   */
  maxLifetimeSec?: number
  /** Binary spray-and-wait copies of a new bundle. @default DEFAULT_SPRAY_COPIES (8) */
  sprayCopies?: number
  /** How often due retries are planned, ms. @default 1000 (the retry policy's base delay) */
  tickMs?: number
  /**
   * How often expired bundles are swept, ms. A sweep is a walk of the in-memory expiry index
   * plus one page of seen ids: cheap, so 5 s keeps expired bundles from lingering. @default 5000
   */
  sweepMs?: number
}

export const NODE_BUNDLES_DEFAULTS = {
  relay: false,
  quotaBytes: BUNDLE_STORE_DEFAULTS.quotaBytes,
  maxLifetimeSec: BUNDLE_STORE_DEFAULTS.maxLifetimeSec,
  sprayCopies: DEFAULT_SPRAY_COPIES,
  tickMs: 1000,
  sweepMs: 5000
} as const

/** What `send` takes: a node_id or `broadcast`, a lifetime in seconds, the payload. */
export interface NodeSendRequest {
  destination: Destination
  ttlSec: number
  payload: Uint8Array
}

export interface NodeBundlesEvents {
  /** A bundle for this node (or a broadcast) is in its inbox, durably. */
  'bundle:delivered': CustomEvent<DeliveredBundle>
}

/**
 * What the DTN layer needs of the node's identity and trust. A NodeDir fits; so does a node that
 * has no NODEDIR (the simulation harness's nodes). `chain` and `credentials` are read per bundle.
 */
export type DtnIdentity = Pick<NodeDir, 'nodeId' | 'chain' | 'chainVerifier' | 'roots' | 'intermediates'> & {
  credentials: { signer: IdentitySigner }
  /** NODEDIR, whose node.json may hold a `dtn` section. @default none (no file is read) */
  dir?: string
}

export interface NodeBundlesInit {
  node: MeshNode
  store: MeshStore
  dir: DtnIdentity
  /**
   * The node's CRL state: each CRL it installs purges what revoked sources signed. Without it,
   * arriving bundles are still refused by the ChainVerifier's CRLs, but nothing held is purged.
   */
  crl?: CrlManager
  now(): number
  log: Logger
  options?: NodeBundlesOptions
}

/** A node's DTN: send, list, read, and delivery events. */
export class NodeBundles extends TypedEventEmitter<NodeBundlesEvents> {
  readonly agent: BundleAgent
  readonly store: BundleStore
  readonly service: BundleService
  readonly #now: () => number
  readonly #stops: Array<() => Promise<void> | void> = []
  /** Payload filters that take a delivery for the node itself (carried gossip); see `intercept`. */
  readonly #interceptors: Array<(d: DeliveredBundle) => boolean> = []
  #hold: { when(): boolean, hold(req: NodeSendRequest): Promise<SendResult> } | undefined

  /** Wraps a started agent and service; deliveries of the agent are announced from here (after the interceptors). */
  constructor (agent: BundleAgent, service: BundleService, now: () => number) {
    super()
    this.agent = agent
    this.store = agent.store
    this.service = service
    this.#now = now
    const onDelivered = (evt: CustomEvent<DeliveredBundle>): void => { this.deliver(evt.detail) }
    agent.addEventListener('bundle:delivered', onDelivered)
    this.onStop(() => { agent.removeEventListener('bundle:delivered', onDelivered) })
  }

  /**
   * Creates, signs and durably stores a bundle; resolves once it is on disk, with its id and
   * expiry (`POST /v1/bundles`). Throws BundleError (INVALID_REQUEST, INVALID_EID) or
   * BundleStoreError QUOTA_EXCEEDED, having stored nothing.
   */
  async send (req: NodeSendRequest): Promise<SendResult> {
    if (this.#hold?.when() === true) { return this.#hold.hold(req) }
    const sent = await this.agent.send({ destination: req.destination, ttlSec: req.ttlSec, payload: req.payload })
    // try at once rather than at the next tick: the destination or a relay may be connected now
    void this.service.pump()
    return sent
  }

  /**
   * While `when()` says so, `send` hands requests to `hold` instead (the runtime's CertHold:
   * no certificate valid to sign with); they come back through `sendReserved`.
   */
  holdWhen (when: () => boolean, hold: (req: NodeSendRequest) => Promise<SendResult>): void {
    this.#hold = { when, hold }
  }

  /** Signs and stores a request that was held, under the id reserved for it then. */
  async sendReserved (req: NodeSendRequest, reserved: ReservedId): Promise<SendResult> {
    const sent = await this.agent.send({ destination: req.destination, ttlSec: req.ttlSec, payload: req.payload }, { reserved })
    // try at once rather than at the next tick: the destination or a relay may be connected now
    void this.service.pump()
    return sent
  }

  /** Bundles destined for this node, those held for forwarding, and reassemblies in progress. */
  async list (options: { limit?: number } = {}): Promise<BundleListing> {
    return listBundles(this.store, this.#now(), options.limit ?? 256)
  }

  /** One delivered bundle with its payload (`GET /v1/bundles/{bundle_id}`), unless unknown or expired. */
  async get (id: BundleId): Promise<{ row: InboxRow, payload: Uint8Array } | undefined> {
    const d = await this.store.getDelivered(id, this.#now())
    return d == null ? undefined : { row: inboxRow(d.meta, d.payload), payload: d.payload }
  }

  /**
   * Registers a filter that sees every delivery first; one that returns true takes it (it is not
   * announced as `bundle:delivered`). Carried gossip and CRLs use this (dtn-carry.ts).
   */
  intercept (filter: (d: DeliveredBundle) => boolean): void {
    this.#interceptors.push(filter)
  }

  /** Called for each delivery the agent announces. */
  deliver (d: DeliveredBundle): void {
    for (const f of this.#interceptors) {
      try {
        if (f(d)) { return }
      } catch {
        // a broken filter must not swallow the application's bundles
      }
    }
    this.safeDispatchEvent('bundle:delivered', { detail: d })
  }

  onStop (fn: () => Promise<void> | void): void {
    this.#stops.push(fn)
  }

  /** Stops the protocol and timers and waits for queued writes. The LevelDB is the runtime's to close. */
  async stop (): Promise<void> {
    for (const fn of this.#stops.splice(0).reverse()) { await fn() }
  }
}

/**
 * Opens the bundle store and agent, starts the bundle service on `node` (before `node.start()`
 * is fine: the handler and listeners are in place for the first connections), and hooks
 * revocation. Stop with `NodeBundles.stop()`.
 */
export async function startNodeBundles (init: NodeBundlesInit): Promise<NodeBundles> {
  const o = { ...NODE_BUNDLES_DEFAULTS, ...(init.dir.dir != null ? await dtnConfigOf(init.dir.dir) : {}), ...definedOnly(init.options ?? {}) }
  const { node, dir: nd, crl, log } = init
  const cas: Certificate[] = [...nd.roots, ...nd.intermediates]
  const revoked = new RevokedSources(cas, nd.chainVerifier.crls)
  const store = await BundleStore.open(init.store, { quotaBytes: o.quotaBytes, self: nd.nodeId })
  const agent = await BundleAgent.open({
    store,
    self: nd.nodeId,
    // Read per bundle: NodeDir follows the lifecycle's current pair (a rotation signs the next bundle).
    credentials: () => ({ signer: nd.credentials.signer, chain: nd.chain }),
    sources: { verifier: peerVerifierFromChainVerifier(nd.chainVerifier), isRevoked: (id) => revoked.isRevoked(id), originAttested: (der, fp) => init.node.attest.acceptsOrigin(der, fp) },
    now: init.now,
    sprayCopies: o.sprayCopies,
    maxLifetimeSec: o.maxLifetimeSec
  })
  const relaying = new RelayPeers(node, o.relays ?? [])
  const service = new BundleService({
    node: attestGatedBundleNode(node, (peerId, code) => { log.warn({ peer_id: peerId, code }, 'bundle stream refused: peer not attested') }),
    agent,
    relays: () => relaying.list(),
    tickMs: o.tickMs,
    sweepMs: o.sweepMs,
    now: init.now,
    // every certificate the node has seen counts for "newest", attested or not yet
    knownPeers: () => node.peers.list(),
    // a peer's certificate as the table holds it, against the CRLs installed here
    isRevoked: (p) => {
      const rec = node.peers.get(p.peerId)
      return rec != null && revoked.isRevoked(rec.identity)
    }
  })
  service.addEventListener('custody:refused', (evt) => {
    const r = evt.detail
    log.warn({ peer_id: r.peerId, node_id: r.nodeId, serial: r.serialHex, code: r.code }, 'bundle custody refused to a peer')
  })
  const bundles = new NodeBundles(agent, service, init.now)

  // the operator log names every delivery to the application (carried gossip is logged by dtn-carry.ts)
  bundles.addEventListener('bundle:delivered', (evt) => {
    const d = evt.detail
    log.info({ bundle_id: d.bundleId, node_id: d.source, bytes: d.payload.length }, 'bundle delivered')
  })

  // revocation: a CRL installed by any path purges what its revoked certificates signed
  const removeHook = crl?.onCrl(async (e) => {
    revoked.install(e.crl)
    const n = await agent.purgeRevoked((id) => revoked.isRevoked(id))
    if (n > 0) { log.warn({ crl_number: e.crlNumber.toString(), purged: n }, 'bundles from revoked sources purged') }
  })
  if (removeHook != null) { bundles.onStop(removeHook) }

  if (o.relay) {
    await node.handle(RELAY_PROTOCOL, async (stream) => { await stream.close().catch(() => {}) }, { maxInboundStreams: 1, maxOutboundStreams: 1 })
    bundles.onStop(async () => { await node.unhandle(RELAY_PROTOCOL).catch(() => {}) })
  }
  relaying.start()
  bundles.onStop(() => { relaying.stop() })

  await service.start()
  bundles.onStop(async () => { await service.stop() })
  bundles.onStop(async () => { await store.close() })
  // what expired while the node was down goes now, not a sweep interval later
  await agent.sweep()
  const shares = store.shares
  log.info({ held: store.outboundCount, quota_bytes: o.quotaBytes, forward_pool_bytes: shares.forwardPool, source_share_bytes: shares.perSource, neighbour_share_bytes: shares.perNeighbour, max_lifetime_sec: o.maxLifetimeSec, relay: o.relay }, 'bundle store open')
  return bundles
}

/** The node's revocation state for bundle sources: one predicate per CRL issuer, from the CRLs installed. */
class RevokedSources {
  readonly #cas: Certificate[]
  readonly #byIssuer = new Map<string, (id: PeerIdentity) => boolean>()

  constructor (cas: Certificate[], crls: Crl[]) {
    this.#cas = cas
    for (const c of crls) { this.install(c) }
  }

  /** A CRL is complete: it replaces the predicate of its issuer. */
  install (crl: Crl): void {
    this.#byIssuer.set(crl.issuer.key, crlRevocationPredicate(crl, this.#cas))
  }

  isRevoked (id: PeerIdentity): boolean {
    for (const p of this.#byIssuer.values()) { if (p(id)) { return true } }
    return false
  }
}

/**
 * Peers preferred as relays: connected, authenticated peers that announce RELAY_PROTOCOL (seen
 * through identify, which runs after auth) or that config names.
 */
class RelayPeers {
  readonly #node: MeshNode
  readonly #configured: Set<string>
  readonly #announced = new Set<string>()
  readonly #onIdentify: (evt: CustomEvent<{ peerId: { toString(): string }, protocols: string[] }>) => void

  constructor (node: MeshNode, configured: string[]) {
    this.#node = node
    this.#configured = new Set(configured)
    this.#onIdentify = (evt) => {
      const peerId = evt.detail.peerId.toString()
      if (evt.detail.protocols.includes(RELAY_PROTOCOL)) { this.#announced.add(peerId) } else { this.#announced.delete(peerId) }
    }
  }

  start (): void {
    this.#node.libp2p.addEventListener('peer:identify', this.#onIdentify as any)
  }

  stop (): void {
    this.#node.libp2p.removeEventListener('peer:identify', this.#onIdentify as any)
  }

  /** node_ids of authenticated peers flagged as relays. */
  list (): string[] {
    const out: string[] = []
    for (const p of this.#node.peers.list()) {
      if (p.status === 'authenticated' && (this.#announced.has(p.peerId) || this.#configured.has(p.nodeId))) { out.push(p.nodeId) }
    }
    return out
  }
}

/** Largest node.json read for its `dtn` section (the file is a few KiB). */
const MAX_NODE_JSON_BYTES = 256 * 1024

/**
 * The optional `dtn` section of NODEDIR/node.json (`{ "dtn": { "relay": true, "relays": [...],
 * "quota_bytes": N, "max_lifetime_sec": N } }`), so an operator can flag a relay without changing
 * how it is started.
 * Flags and library options override it. Unknown or ill-typed fields are ignored.
 */
export async function dtnConfigOf (dir: string): Promise<NodeBundlesOptions> {
  let raw: unknown
  try {
    const bytes = await readFile(join(dir, 'node.json'))
    if (bytes.length > MAX_NODE_JSON_BYTES) { return {} }
    raw = JSON.parse(bytes.toString('utf8'))
  } catch {
    return {}
  }
  const d = (raw as { dtn?: Record<string, unknown> } | null)?.dtn
  if (d == null || typeof d !== 'object') { return {} }
  const out: NodeBundlesOptions = {}
  if (typeof d.relay === 'boolean') { out.relay = d.relay }
  if (Array.isArray(d.relays) && d.relays.every(r => typeof r === 'string')) { out.relays = d.relays.slice(0, 1024) }
  if (Number.isSafeInteger(d.quota_bytes) && (d.quota_bytes as number) > 0) { out.quotaBytes = d.quota_bytes as number }
  if (Number.isSafeInteger(d.max_lifetime_sec) && (d.max_lifetime_sec as number) >= 1 && (d.max_lifetime_sec as number) <= MAX_TTL_SEC) { out.maxLifetimeSec = d.max_lifetime_sec as number }
  return out
}

function definedOnly<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** DTN options of a node process: the bundle layer and the carrying of gossip and CRLs. */
export interface RuntimeDtnOptions extends NodeBundlesOptions {
  carry?: CarryOptions
}

/**
 * The whole DTN of a node process, as `startNodeRuntime` wires it: the bundle layer and the
 * carrying of anomaly signatures and CRLs in bundles. One call, one stop, for the runtime.
 */
export async function startRuntimeDtn (init: NodeBundlesInit & { options?: RuntimeDtnOptions }): Promise<{ bundles: NodeBundles, carry: DtnCarry, stop(): Promise<void> }> {
  const bundles = await startNodeBundles(init)
  const carry = startDtnCarry({ node: init.node, bundles, crl: init.crl, chainVerifier: init.dir.chainVerifier, now: init.now, log: init.log, ...(init.options?.carry != null ? { options: init.options.carry } : {}) })
  return {
    bundles,
    carry,
    async stop () {
      carry.stop()
      await bundles.stop()
    }
  }
}
