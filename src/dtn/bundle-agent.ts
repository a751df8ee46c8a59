import { TypedEventEmitter } from '@libp2p/interface'
import { formatBundleId } from './bundle-id.ts'
import { BUNDLE_STORE_DEFAULTS, DEFAULT_HOP_LIMIT, DEFAULT_SPRAY_COPIES, MAX_ADU_BYTES, MAX_SPRAY_COPIES } from './constants.ts'
import { createBundle } from './create-bundle.ts'
import { BROADCAST } from './eid.ts'
import { BundleError } from './errors.ts'
import { admitFragment, reassemble } from './fragment.ts'
import { KeyedLock } from './keyed-lock.ts'
import { parseBundle } from './mesh-bundle.ts'
import { aduKey } from './store/bundle-keys.ts'
import { TransferPlanner } from './transfer-planner.ts'
import { checkBundleTime, verifyBundleSource } from './verify-bundle.ts'
import type { BundleId } from './bundle-id.ts'
import type { SendRequest } from './create-bundle.ts'
import type { ParsedBundle } from './mesh-bundle.ts'
import type { RetryPolicy } from './retry.ts'
import type { AckStatus, Transfer } from './transfer-planner.ts'
import type { SourceVerifier } from './verify-bundle.ts'
import type { IdentitySigner } from '../pki/peer-verifier.ts'
import type { PeerIdentity } from '../pki/peer-verifier.ts'
import type { AcceptItem, BundleStore, DeliveredMeta, OutboundMeta } from './store/bundle-store.ts'

/**
 * The node-independent DTN engine: creates and signs bundles, receives them (verify, deduplicate,
 * keep for forwarding, reassemble, deliver), and plans custody transfers for the protocol to run.
 * Every acceptance is one durable batch before anything is acknowledged or announced.
 */

export interface BundleAgentInit {
  store: BundleStore
  /** This node's node_id. */
  self: string
  /**
   * What this node signs its own bundles with. A function is read per bundle, so a rotated
   * certificate signs the next bundle (the node's lifecycle passes its current pair).
   */
  credentials: BundleCredentials | (() => BundleCredentials)
  /** Chain verifier and revocation state for arriving bundles. */
  sources: SourceVerifier
  now(): number
  /** @default Math.random */
  random?(): number
  /** @default DEFAULT_MAX_FRAME_BYTES */
  maxFrameBytes?: number
  /** Binary spray-and-wait copies a new bundle starts with. @default DEFAULT_SPRAY_COPIES */
  sprayCopies?: number
  retry?: RetryPolicy
  /** @default MAX_ADU_BYTES */
  maxAduBytes?: number
  /**
   * Longest a received bundle is kept, seconds from its creation, whatever lifetime it claims
   * (it is also kept no later than its signer's certificate notAfter). @default BUNDLE_STORE_DEFAULTS.maxLifetimeSec (7 days)
   */
  maxLifetimeSec?: number
}

/** The identity key and certificate chain (leaf first) a node signs its bundles with. */
export interface BundleCredentials { signer: IdentitySigner, chain: Uint8Array[] }

/** A bundle handed to this node's application. */
export interface DeliveredBundle {
  id: BundleId
  /** `bundle_id` text. */
  bundleId: string
  source: string
  destination: string
  createdAt: number
  expiresAt: number
  payload: Uint8Array
  receivedFrom?: string
  /** The source's verified identity (who signed it): carried gossip checks its origin against it. */
  signer: PeerIdentity
}

export interface BundleAgentEvents {
  /** After the durable write: the bundle is in the inbox. */
  'bundle:delivered': CustomEvent<DeliveredBundle>
}

export interface ReceiveOptions {
  /** node_id of the authenticated peer that sent it (never offered back to it). */
  from?: string
  /** Spray-and-wait copies handed over with it. @default 1 */
  copies?: number
}

export interface ReceiveResult {
  status: 'accepted' | 'duplicate'
  id: BundleId
  offset: number
  /** Set when this bundle (or this last fragment) completed a delivery to this node. */
  delivered?: DeliveredBundle
}

export interface SendResult {
  id: BundleId
  bundleId: string
  expiresAt: number
  fragments: number
}

/** A bundle id taken ahead of signing (see `reserveId`). */
export interface ReservedId {
  createdAt: number
  sequence: number
  bundleId: string
  expiresAt: number
}

export class BundleAgent extends TypedEventEmitter<BundleAgentEvents> {
  readonly store: BundleStore
  readonly self: string
  readonly planner: TransferPlanner
  readonly #init: BundleAgentInit
  readonly #reassembly = new KeyedLock()
  #last = { createdAt: 0, sequence: -1 }
  #expired = 0
  #selfId: { leaf: Uint8Array, id: PeerIdentity } | undefined

  private constructor (init: BundleAgentInit) {
    super()
    this.store = init.store
    this.self = init.self
    this.#init = init
    this.planner = new TransferPlanner({ store: init.store, self: init.self, now: init.now, random: init.random ?? Math.random, retry: init.retry })
  }

  /** The agent's clock (ms): what lifetimes and certificates are checked against. */
  now (): number {
    return this.#init.now()
  }

  /** Starts an agent over an open BundleStore, resuming its bundle sequence. */
  static async open (init: BundleAgentInit): Promise<BundleAgent> {
    const agent = new BundleAgent(init)
    const last = await init.store.getState<{ createdAt: number, sequence: number }>('last-id')
    if (last != null) { agent.#last = last }
    return agent
  }

  /**
   * Creates, signs and durably stores a bundle (fragmented if it does not fit a frame); returns
   * once it is on disk, so the `{ bundle_id, expires_at }` that `POST /v1/bundles` answers survives a crash.
   * Ids are strictly increasing per node, across restarts and a clock stepping back.
   */
  async send (req: SendRequest, options: { reserved?: ReservedId } = {}): Promise<SendResult> {
    const now = this.#init.now()
    const { createdAt, sequence } = options.reserved ?? this.#nextId(now)
    const created = await createBundle(req, { ...this.#credentials(), createdAt, sequence, maxFrameBytes: this.#init.maxFrameBytes })
    const state = { key: 'last-id', value: { ...this.#last } }
    const result = { id: created.id, bundleId: formatBundleId(created.id), expiresAt: created.expiresAt, fragments: created.parts.length }
    if (req.destination === this.self) {
      const payload = req.payload.slice()
      const meta = this.#deliveredMeta(created, undefined, await this.#selfIdentity(now), now)
      await this.store.accept([{ type: 'delivered', meta, payload }], state)
      this.#announce(meta, payload)
      return result
    }
    const signer = await this.#selfIdentity(now)
    const items: AcceptItem[] = created.parts.map(part => ({
      type: 'outbound',
      bytes: part.bytes,
      meta: {
        id: created.id,
        offset: part.offset,
        length: part.length,
        fragmented: created.fragmented,
        aduLength: created.aduLength,
        destination: req.destination,
        broadcast: req.destination === BROADCAST,
        createdAt: created.createdAt,
        expiresAt: created.expiresAt,
        hopCount: 0,
        hopLimit: req.hopLimit ?? DEFAULT_HOP_LIMIT,
        copies: Math.max(1, Math.min(this.#init.sprayCopies ?? DEFAULT_SPRAY_COPIES, MAX_SPRAY_COPIES)),
        attempts: 0,
        nextAttemptAt: now,
        sentTo: [],
        acceptedAt: now,
        signer
      }
    }))
    await this.store.accept(items, state)
    return result
  }

  /**
   * Takes the next bundle id now, durably, for a bundle signed later (`send(req, { reserved })`):
   * a node whose certificate is not valid holds the request and signs it once it has one, under
   * the id and expiry it answered with. The id is never handed out again, even after a crash.
   */
  async reserveId (ttlSec: number): Promise<ReservedId> {
    const { createdAt, sequence } = this.#nextId(this.#init.now())
    await this.store.putState('last-id', { ...this.#last })
    const id = { source: this.self, createdAt, sequence }
    return { createdAt, sequence, bundleId: formatBundleId(id), expiresAt: createdAt + ttlSec * 1000 }
  }

  /** The next id: strictly increasing per node, across restarts and a clock stepping back. */
  #nextId (now: number): { createdAt: number, sequence: number } {
    const createdAt = Math.max(now, this.#last.createdAt)
    const sequence = createdAt === this.#last.createdAt ? this.#last.sequence + 1 : 0
    this.#last = { createdAt, sequence }
    return this.#last
  }

  /**
   * Takes a bundle off the wire. Cheap checks first (structure, clock, hops, seen), then the
   * source's chain, revocation and signature; then one durable batch keeps it for forwarding
   * and/or delivers it (reassembling fragments). Throws BundleError (or BundleStoreError
   * QUOTA_EXCEEDED) having stored nothing; resolves only after the write, so an ACK sent after
   * it is a true custody acknowledgement.
   */
  async receive (bytes: Uint8Array, options: ReceiveOptions = {}): Promise<ReceiveResult> {
    const now = this.#init.now()
    const bundle = parseBundle(bytes, { maxAduBytes: this.#init.maxAduBytes ?? MAX_ADU_BYTES })
    checkBundleTime(now, bundle)
    // [IGNORE] past the longest lifetime this node keeps: every node counts it from creation, so
    // a bundle dropped here (its seen id gone with it) is refused again, not taken back
    const lifetimeCap = bundle.createdAt + (this.#init.maxLifetimeSec ?? BUNDLE_STORE_DEFAULTS.maxLifetimeSec) * 1000
    if (now >= lifetimeCap) { throw new BundleError('EXPIRED', 'bundle is older than the longest lifetime this node keeps') }
    const offset = bundle.fragment?.offset ?? 0
    const local = bundle.destination === this.self || bundle.destination === BROADCAST
    const forward = bundle.destination !== this.self && bundle.hopCount < bundle.hopLimit
    // [REJECT] a bundle for someone else that has no hop left: we could never pass it on
    if (!local && !forward) { throw new BundleError('HOP_LIMIT_EXCEEDED', 'no hop left to forward this bundle') }
    // [IGNORE] seen before: acknowledged as a duplicate so the sender can let go
    if (await this.store.hasSeen(bundle.id, offset)) { return { status: 'duplicate', id: bundle.id, offset } }
    const signer = await verifyBundleSource(now, bundle, this.#init.sources)
    // the lifetime it is kept (stored, forwarded, delivered) is clamped to this node's cap and to
    // its signer's certificate: a member cannot pin the store longer than it may itself speak
    bundle.expiresAt = Math.min(bundle.expiresAt, lifetimeCap, signer.notAfter)

    const items: AcceptItem[] = []
    if (forward) { items.push({ type: 'outbound', bytes: bundle.bytes, meta: this.#relayMeta(bundle, signer, now, options) }) }
    if (!local) { return this.#commit(items, bundle, offset) }
    if (bundle.fragment == null) {
      const meta = this.#deliveredMeta(bundle, options.from, signer, now)
      items.push({ type: 'delivered', meta, payload: bundle.payload })
      return this.#commit(items, bundle, offset, { meta, payload: bundle.payload })
    }
    const fragment = bundle.fragment
    return this.#reassembly.run(aduKey(bundle.id), async () => {
      // ranges from keys and one sibling's metadata: admitting costs no payload reads
      const { ranges, sample } = await this.store.fragmentRanges(bundle.id)
      const next = { offset, length: bundle.payload.length, totalLength: fragment.totalLength, aduDigest: bundle.aduDigest }
      const siblings = sample == null ? [] : ranges.map(r => ({ ...r, totalLength: sample.totalLength, aduDigest: sample.aduDigest }))
      const { complete } = admitFragment(siblings, next)
      if (!complete) {
        items.push({
          type: 'fragment',
          payload: bundle.payload,
          meta: { ...next, id: bundle.id, destination: bundle.destination, createdAt: bundle.createdAt, expiresAt: bundle.expiresAt, receivedFrom: options.from, signer }
        })
        return this.#commit(items, bundle, offset)
      }
      const held = await this.store.fragmentsOf(bundle.id)
      const payload = reassemble([...held.map(h => ({ offset: h.meta.offset, payload: h.payload })), { offset, payload: bundle.payload }], fragment.totalLength, bundle.aduDigest)
      const meta = this.#deliveredMeta(bundle, options.from, signer, now)
      items.push({ type: 'delivered', meta, payload, offset })
      return this.#commit(items, bundle, offset, { meta, payload })
    })
  }

  async #commit (items: AcceptItem[], bundle: ParsedBundle, offset: number, delivery?: { meta: DeliveredMeta, payload: Uint8Array }): Promise<ReceiveResult> {
    const statuses = await this.store.accept(items)
    if (statuses.every(s => s === 'duplicate')) { return { status: 'duplicate', id: bundle.id, offset } }
    if (delivery == null) { return { status: 'accepted', id: bundle.id, offset } }
    return { status: 'accepted', id: bundle.id, offset, delivered: this.#announce(delivery.meta, delivery.payload) }
  }

  #announce (meta: DeliveredMeta, payload: Uint8Array): DeliveredBundle {
    const d: DeliveredBundle = {
      id: meta.id,
      bundleId: formatBundleId(meta.id),
      source: meta.id.source,
      destination: meta.destination,
      createdAt: meta.createdAt,
      expiresAt: meta.expiresAt,
      payload,
      ...(meta.receivedFrom == null ? {} : { receivedFrom: meta.receivedFrom }),
      signer: meta.signer
    }
    this.safeDispatchEvent('bundle:delivered', { detail: d })
    return d
  }

  #relayMeta (b: ParsedBundle, signer: PeerIdentity, now: number, options: ReceiveOptions): OutboundMeta {
    const copies = Number.isSafeInteger(options.copies) ? Math.max(1, Math.min(options.copies as number, MAX_SPRAY_COPIES)) : 1
    return {
      id: b.id,
      offset: b.fragment?.offset ?? 0,
      length: b.payload.length,
      fragmented: b.fragment != null,
      aduLength: b.aduLength,
      destination: b.destination,
      broadcast: b.destination === BROADCAST,
      createdAt: b.createdAt,
      expiresAt: b.expiresAt,
      hopCount: b.hopCount,
      hopLimit: b.hopLimit,
      copies,
      attempts: 0,
      nextAttemptAt: now,
      sentTo: [],
      ...(options.from == null ? {} : { receivedFrom: options.from }),
      acceptedAt: now,
      signer
    }
  }

  #deliveredMeta (b: { id: BundleId, destination: string, createdAt: number, expiresAt: number, aduLength: number, aduDigest: Uint8Array }, from: string | undefined, signer: PeerIdentity, now: number): DeliveredMeta {
    return {
      id: b.id,
      destination: b.destination,
      createdAt: b.createdAt,
      expiresAt: b.expiresAt,
      aduLength: b.aduLength,
      aduDigest: b.aduDigest,
      deliveredAt: now,
      ...(from == null ? {} : { receivedFrom: from }),
      signer
    }
  }

  /** This node's own identity as a signer record (verified like anyone's: a bad own chain fails loudly). */
  async #selfIdentity (now: number): Promise<PeerIdentity> {
    const chain = this.#credentials().chain
    if (this.#selfId == null || this.#selfId.leaf !== chain[0] || now > this.#selfId.id.notAfter) {
      this.#selfId = { leaf: chain[0], id: await this.#init.sources.verifier.verify(new Date(now), chain) }
    }
    return this.#selfId.id
  }

  #credentials (): BundleCredentials {
    const c = this.#init.credentials
    return typeof c === 'function' ? c() : c
  }

  /** Custody transfers to start now: due retries, or everything for a peer that just connected. */
  async planTransfers (connected: readonly string[], options: { peer?: string, relays?: readonly string[], limit?: number } = {}): Promise<Transfer[]> {
    return this.planner.plan(connected, options)
  }

  /** Applies a peer's ACK to a transfer (release, keep a spray share, or note the holder). */
  async completeTransfer (t: Transfer, ack: { status: AckStatus, code?: string }): Promise<void> {
    await this.planner.complete(t, ack)
  }

  /** A transfer that got no ACK (stream failed, deadline passed): the schedule retries it. */
  failTransfer (t: Transfer): void {
    this.planner.fail(t)
  }

  /** Removes what expired; returns how many expiry entries were processed. */
  async sweep (): Promise<number> {
    let total = 0
    for (let i = 0; i < 1000; i++) {
      const n = await this.store.sweep(this.#init.now(), 1024)
      total += n
      this.#expired += n
      if (n < 1024) { break }
    }
    return total
  }

  /** Expiry entries removed by `sweep` since the agent was made (the metrics' expired count). */
  get expiredCount (): number {
    return this.#expired
  }

  /** Purges everything signed by a now-revoked source (by the node's revocation predicate). */
  async purgeRevoked (isRevoked: (signer: PeerIdentity) => boolean): Promise<number> {
    return this.store.purgeWhere(isRevoked)
  }

  /** Purges everything from `source` (a node_id the operator revoked). */
  async purgeSource (source: string): Promise<number> {
    return this.store.purgeSource(source)
  }
}
