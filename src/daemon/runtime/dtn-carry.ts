import { encode } from 'cborg'
import { ANOMALY_DEFAULT_MAX_SKEW_MS, validateAnomaly } from '../../../protocols/anomaly-gossip/index.ts'
import { encodeCrlMessage } from '../../../protocols/crl-gossip/codec.ts'
import { BROADCAST } from '../../dtn/eid.ts'
import { MeshError } from '../../errors.ts'
import { parseCrl } from '../../pki/crl.ts'
import { decodeBounded } from '../../util/bounded-cbor.ts'
import type { CrlEvent, CrlManager } from './crl-manager.ts'
import type { NodeBundles } from './dtn.ts'
import type { DeliveredBundle } from '../../dtn/bundle-agent.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { ChainVerifier } from '../../pki/chain-verifier.ts'
import type { AnomalyRecord } from '../../store/anomaly-store.ts'
import type { Logger } from 'pino'

/**
 * Gossip and CRLs ride bundles: gossipsub reaches the peers that are connected now and
 * never replays, so a node that is down or partitioned when an anomaly signature is published or
 * a CRL installed would miss it for good. When the carry policy says so, this node wraps
 *
 * - each anomaly signature it PUBLISHES (origin = this node) and
 * - each CRL it learns other than from gossip (fetched from the CA, pushed, published here)
 *
 * into a BROADCAST bundle with a bounded lifetime. Broadcast bundles flood to every
 * authenticated peer with deduplication and wait on every node until they expire, so whoever
 * comes back (or across a healed partition) gets them on its next connection.
 *
 * Trust: a carried CRL is CA-signed, so any node may carry it. An anomaly envelope carries its
 * origin's signature; on top of it only the origin carries its envelopes, and a receiver checks
 * that the bundle's signer is the envelope's origin (`signerPeerId` = the signer's PeerId) and
 * then runs the gossip validator itself (chain, revocation, delegation, origin signature,
 * expiry, seen, payload schema).
 *
 * Delivered carry bundles are taken off the inbox and never announced to the application.
 */

/** When to carry: some peer this node knows is not connected now (default), always, or never. */
export type CarryPolicy = 'missing' | 'always' | 'off'

export interface CarryOptions {
  /** @default 'missing' */
  policy?: CarryPolicy
  /** Longest lifetime of a carried anomaly signature's bundle (never beyond the signature's expiry). @default 6 h */
  maxAnomalyTtlSec?: number
  /** Longest lifetime of a carried CRL's bundle (never beyond its nextUpdate). @default 24 h */
  maxCrlTtlSec?: number
  /**
   * Under `missing`: how long after publishing a signature that every known peer seemed to get,
   * the node looks again, ms. A link that fails silently still looks connected until QUIC's idle
   * timeout (10 s) closes it; gossip sent into it is lost. If a peer connected at the publish
   * has dropped by then, or any known peer is away, the signature is carried after all.
   *
   * @default 15 s
   */
  recheckMs?: number
}

export const CARRY_DEFAULTS = { policy: 'missing', maxAnomalyTtlSec: 6 * 3600, maxCrlTtlSec: 24 * 3600, recheckMs: 15_000 } as const

/**
 * Marks a carry payload: a fixed 12-byte prefix, then CBOR `{ t: 'anomaly' | 'crl', b: bytes }`.
 * Application payloads that start with it are taken for carried gossip (and refused unless they
 * validate); no application has a reason to start a payload with these bytes.
 */
export const CARRY_MAGIC = Buffer.from('\u0000dadm-carry1', 'latin1')
/** Largest carried item: an anomaly envelope is at most 16 KiB, a CRL message at most 1 MiB. */
const MAX_CARRIED_BYTES = 1024 * 1024 + 64

export type CarryKind = 'anomaly' | 'crl'

export function encodeCarry (kind: CarryKind, bytes: Uint8Array): Uint8Array {
  return Buffer.concat([CARRY_MAGIC, encode({ t: kind, b: bytes })])
}

/** Bounded reasons a payload that carries the carry prefix is refused. */
export type CarryErrorCode =
  /** Larger than the largest item that is ever carried: never decoded. */
  | 'CARRY_TOO_LARGE'
  /** Not the CBOR map `{ t, b }` (nested, too many items, unknown kind, not strict CBOR). */
  | 'CARRY_MALFORMED'

/** Raised for a payload that starts with CARRY_MAGIC but is not a well-formed carried item. */
export class CarryError extends MeshError<CarryErrorCode> {
  static name = 'CarryError'
}

/**
 * The envelope is a flat map of two entries: nothing in it is nested, so a depth of 1 refuses a
 * nesting bomb at its second byte (cborg itself has no depth limit and recurses per level), and
 * five heads cover the map, two keys and two values.
 */
const CARRY_LIMITS = { maxDepth: 1, maxTokens: 5 }

/**
 * The carried item of a payload; undefined when the payload does not start with CARRY_MAGIC (an
 * application's own bundle). A payload that does, but is not a well-formed carried item, throws
 * CarryError: it is refused, never handed to the application as if it were its own.
 */
export function decodeCarry (payload: Uint8Array): { kind: CarryKind, bytes: Uint8Array } | undefined {
  if (payload.length < CARRY_MAGIC.length || !Buffer.from(payload.buffer, payload.byteOffset, CARRY_MAGIC.length).equals(CARRY_MAGIC)) { return undefined }
  // [REJECT] larger than any carried item: not decoded at all
  if (payload.length > CARRY_MAGIC.length + MAX_CARRIED_BYTES) { throw new CarryError('CARRY_TOO_LARGE', `carried item of ${payload.length} bytes exceeds ${MAX_CARRIED_BYTES}`) }
  let v: { t?: unknown, b?: unknown }
  try {
    v = decodeBounded(payload.subarray(CARRY_MAGIC.length), CARRY_LIMITS) as { t?: unknown, b?: unknown }
  } catch (err) {
    // [REJECT] not strict CBOR within the limits (a nesting bomb ends here, after a few bytes)
    throw new CarryError('CARRY_MALFORMED', 'carried item is not a flat CBOR map', { cause: err })
  }
  if (v == null || typeof v !== 'object' || !(v.t === 'anomaly' || v.t === 'crl') || !(v.b instanceof Uint8Array)) {
    throw new CarryError('CARRY_MALFORMED', 'carried item is not { t: anomaly | crl, b: bytes }')
  }
  return { kind: v.t, bytes: v.b }
}

export interface DtnCarryInit {
  node: MeshNode
  bundles: NodeBundles
  /** The node's CRL state: CRLs it installs are carried, carried ones are offered to it. Without it, only anomaly signatures ride. */
  crl?: CrlManager
  /** The node's ChainVerifier: carried envelopes' origin chains are checked with it. */
  chainVerifier: ChainVerifier
  now(): number
  log: Logger
  options?: CarryOptions
  /** Called once a malformed carried item was refused and its bundle removed from the inbox. */
  onRefused?(refusal: CarryRefusal): void
}

/** A carried item refused before validation: which bundle, from whom, and why. */
export interface CarryRefusal { bundleId: string, source: string, code: CarryErrorCode }

/** Counters, for tests and logs. */
export interface CarryStats {
  anomaliesSent: number
  crlsSent: number
  anomaliesAccepted: number
  crlsAccepted: number
  refused: number
}

export interface DtnCarry {
  readonly stats: CarryStats
  stop(): void
}

/** Starts carrying: hooks the node's anomaly events, the CRL manager and the bundle deliveries. */
export function startDtnCarry (init: DtnCarryInit): DtnCarry {
  const o = { ...CARRY_DEFAULTS, ...init.options }
  const { node, bundles, log, onRefused } = init
  const stats: CarryStats = { anomaliesSent: 0, crlsSent: 0, anomaliesAccepted: 0, crlsAccepted: 0, refused: 0 }
  /** `<issuer>:<number>` of CRLs carried or received in a bundle: each is carried at most once from here. */
  const carriedCrls = new Set<string>()

  const wanted = (): boolean => {
    if (o.policy === 'off') { return false }
    if (o.policy === 'always') { return true }
    return node.peers.rows().some(p => p.status !== 'authenticated')
  }
  const carry = async (kind: CarryKind, bytes: Uint8Array, ttlSec: number, what: Record<string, unknown>): Promise<boolean> => {
    if (ttlSec < 1) { return false }
    try {
      const sent = await bundles.send({ destination: BROADCAST, ttlSec, payload: encodeCarry(kind, bytes) })
      log.info({ ...what, bundle_id: sent.bundleId }, `${kind} carried in a broadcast bundle`)
      return true
    } catch (err) {
      log.warn({ err, ...what }, `${kind} could not be carried`)
      return false
    }
  }

  // 1. Our own anomaly signatures, when a peer we know is away (now, or by the recheck).
  /** Signatures published while every known peer was connected, waiting for their recheck. */
  const rechecks = new Set<{ peers: Set<string>, dropped: boolean, timer: NodeJS.Timeout }>()
  const carryAnomaly = (r: AnomalyRecord, bytes: Uint8Array): void => {
    const ttl = Math.min(Math.floor((r.expiry - init.now()) / 1000), o.maxAnomalyTtlSec)
    void carry('anomaly', bytes, ttl, { message_id: r.message_id }).then(ok => { if (ok) { stats.anomaliesSent++ } })
  }
  const onAnomaly = (evt: CustomEvent<AnomalyRecord>): void => {
    const r = evt.detail
    if (r.source !== 'local' || o.policy === 'off') { return }
    // the envelope as it was gossiped, origin signature included
    if (r.envelope == null) {
      log.warn({ message_id: r.message_id }, 'anomaly record holds no envelope; not carried')
      return
    }
    const envelope = Buffer.from(r.envelope, 'base64')
    if (wanted()) {
      carryAnomaly(r, envelope)
      return
    }
    const check = {
      peers: new Set(node.peers.rows().filter(p => p.status === 'authenticated').map(p => p.peer_id)),
      dropped: false,
      timer: setTimeout(() => {
        rechecks.delete(check)
        if (check.dropped || wanted()) { carryAnomaly(r, envelope) }
      }, o.recheckMs)
    }
    check.timer.unref()
    rechecks.add(check)
  }
  const onDisconnect = (evt: CustomEvent<{ toString(): string }>): void => {
    const peerId = evt.detail.toString()
    for (const c of rechecks) { if (c.peers.has(peerId)) { c.dropped = true } }
  }
  if (node.gossip != null) {
    node.addEventListener('anomaly', onAnomaly)
    node.libp2p.addEventListener('peer:disconnect', onDisconnect)
  }

  // 2. CRLs learned other than by gossip (the node that brought one into gossip carries it).
  const removeCrlHook = init.crl?.onCrl(async (e: CrlEvent) => {
    const key = `${e.crl.issuer.key}:${e.crlNumber}`
    if (e.source === 'gossip' || carriedCrls.has(key) || !wanted()) { return }
    carriedCrls.add(key)
    const until = e.crl.nextUpdate ?? init.now() + o.maxCrlTtlSec * 1000
    const ttl = Math.min(Math.floor((until - init.now()) / 1000), o.maxCrlTtlSec)
    if (await carry('crl', e.crl.der, ttl, { crl_number: e.crlNumber.toString() })) { stats.crlsSent++ }
  })

  // 3. Carried items that reach us: validated as gossip would be, never shown to the application.
  bundles.intercept((d: DeliveredBundle) => {
    let c: ReturnType<typeof decodeCarry>
    try {
      c = decodeCarry(d.payload)
    } catch (err) {
      // taken, refused and removed: a malformed carry payload is never the application's
      const code: CarryErrorCode = err instanceof CarryError ? err.code : 'CARRY_MALFORMED'
      stats.refused++
      log.warn({ bundle_id: d.bundleId, node_id: d.source, code }, 'carried item refused')
      void bundles.store.removeDelivered(d.id).catch(() => {}).finally(() => { onRefused?.({ bundleId: d.bundleId, source: d.source, code }) })
      return true
    }
    if (c == null) { return false }
    void (c.kind === 'anomaly' ? acceptAnomaly(c.bytes, d) : acceptCrl(c.bytes)).then(ok => {
      if (!ok) { stats.refused++ }
    }).finally(() => {
      // the seen id stays: the same bundle is not taken again
      void bundles.store.removeDelivered(d.id).catch(() => {})
    })
    return true
  })

  async function acceptAnomaly (bytes: Uint8Array, d: DeliveredBundle): Promise<boolean> {
    if (node.gossip == null) { return false }
    const verdict = validateAnomaly(init.now(), { envelopeBytes: bytes, from: d.receivedFrom ?? d.source, signerPeerId: d.signer.peerId }, {
      verifier: init.chainVerifier,
      seen: (id) => node.gossip?.anomalies.seen(id),
      maxSkewMs: ANOMALY_DEFAULT_MAX_SKEW_MS
    })
    if (verdict.action !== 'accept') {
      // a signature we already hold (gossip got it here first) is the common, harmless case
      if (verdict.code !== 'REPLAYED') { log.warn({ bundle_id: d.bundleId, code: verdict.code }, 'carried anomaly signature refused') }
      return verdict.code === 'REPLAYED'
    }
    const now = init.now()
    await node.gossip.anomalies.put({
      message_id: verdict.envelope.message_id,
      origin: verdict.origin.nodeId,
      origin_peer_id: verdict.origin.peerId,
      timestamp: verdict.envelope.timestamp,
      expiry: verdict.envelope.expiry,
      payload: verdict.payload,
      digest: verdict.digest,
      received_at: now,
      source: 'gossip',
      envelope: Buffer.from(bytes).toString('base64')
    })
    stats.anomaliesAccepted++
    log.info({ message_id: verdict.envelope.message_id, bundle_id: d.bundleId }, 'anomaly signature arrived in a bundle')
    return true
  }

  async function acceptCrl (der: Uint8Array): Promise<boolean> {
    let key: string
    try {
      const parsed = parseCrl(der)
      key = `${parsed.issuer.key}:${String(parsed.crlNumber)}`
    } catch {
      return false
    }
    // received in a bundle: it floods on as that bundle, so it is never carried again from here
    carriedCrls.add(key)
    try {
      if (node.gossip != null) {
        // validated, installed and gossiped on like a pushed CRL; the runtime persists and enforces it
        const v = await node.gossip.crl.offer(encodeCrlMessage(der), 'push')
        if (v.action === 'accept') { stats.crlsAccepted++ }
        return v.action === 'accept' || v.code === 'NOT_NEWER'
      }
      if (init.crl == null) { return false }
      const r = await init.crl.offer(der, { source: 'push' })
      if (r.status === 'installed') { stats.crlsAccepted++ }
      return true
    } catch (err) {
      log.warn({ err }, 'carried CRL refused')
      return false
    }
  }

  return {
    stats,
    stop () {
      node.removeEventListener('anomaly', onAnomaly)
      node.libp2p.removeEventListener('peer:disconnect', onDisconnect)
      for (const c of rechecks) { clearTimeout(c.timer) }
      rechecks.clear()
      removeCrlHook?.()
    }
  }
}
