import { BUNDLE_STORE_DEFAULTS } from '../dtn/constants.ts'
import { BundleIndex } from './bundle-index.ts'
import { aduKey, aduOfPart, destKey, fragmentKey, hexText, partKey, under } from './bundle-keys.ts'
import { fragmentRanges, fragmentsOf, getDelivered, listInbox, listReassembly } from './bundle-queries.ts'
import { BundleStoreError, charge, decodeRecord, encodeRecord } from './bundle-records.ts'
import { SeenIds } from './bundle-seen.ts'
import { ShareBooks, shareEntry, shareLimits } from './bundle-shares.ts'
import { GroupCommit } from './group-commit.ts'
import type { HeldPart } from './bundle-index.ts'
import type { AcceptItem, AcceptStatus, BundleStoreOptions, DeliveredMeta, FragmentMeta, OutboundMeta, Usage } from './bundle-records.ts'
import type { ShareEntry, ShareLimits } from './bundle-shares.ts'
import type { Prepare, Tx } from './group-commit.ts'
import type { MeshStore, Sublevel } from './mesh-store.ts'
import type { BundleId } from '../dtn/bundle-id.ts'
import type { PeerIdentity } from '../node/peer-verifier.ts'

export { BundleStoreError, ENTRY_OVERHEAD_BYTES, STORE_REFUSAL_CODES } from './bundle-records.ts'
export type { ShareFractions, ShareLimits } from './bundle-shares.ts'
export { MAX_GROUP_JOBS } from './group-commit.ts'
export type { AcceptItem, AcceptStatus, BundleStoreErrorCode, BundleStoreOptions, DeliveredMeta, FragmentMeta, OutboundMeta, Usage } from './bundle-records.ts'

/**
 * The DTN bundle store: one LevelDB per node (the MeshStore). On disk, two kinds of keys:
 *
 * - records, each one value: `dtn-bundles` (part key -> OutboundMeta + bundle bytes, held for
 * forwarding), `dtn-fragments` (`<part key>.<length>` -> FragmentMeta + payload slice, awaiting
 * reassembly; the length in the key lets reassembly check ranges from keys alone) and
 * `dtn-inbox` (ADU key -> DeliveredMeta + payload, delivered to this node);
 * - `dtn-seen`: part key -> expires at, for deduplication once the record is gone: a bundle
 * handed on (custody passed), purged, or taken from the inbox is still refused as a duplicate
 * until it expires. While a record is held, the record itself is the proof of "seen", so
 * accepting a part writes ONE key, and the seen key is written when the record leaves, in the
 * same atomic batch (a release is one delete and one small put): there is no instant at which
 * neither exists, so deduplication survives any crash;
 * - and `dtn-state`, the last bundle id.
 *
 * The secondary indexes the issue lists - outbound by next attempt time, by destination, and by
 * expiry - live in memory (bundle-index.ts) and are rebuilt from the records at open, because
 * every field they hold is in the record already: writing them too made each accept five keys,
 * and LevelDB's cost is per key (measured here with sync batches of 1,000: one key per accept
 * runs at about 2x the rate of five).
 * The price is a scan of the records at open (about a second per 256 MiB, the default quota) and
 * memory of one small entry per stored record (bounded by the quota). The retry schedule
 * (attempts, next attempt) is kept in memory only: after a restart every held bundle is due at
 * once, which is what a node that was down should do anyway; spray copies and holders are written
 * through. Seen ids are not indexed by expiry: each sweep scans a bounded page of `dtn-seen` from
 * a cursor and drops the expired ones, so memory never grows with the number of bundles seen.
 * The `dtn-outbound`, `dtn-by-dest` and `dtn-expiry` sublevels of earlier versions are cleared
 * at open.
 *
 * Every change is one atomic `sync` batch; the in-memory indexes change only after it committed.
 * Concurrent changes are group-committed, pipelined (group-commit.ts): one fsync per group of
 * changes, not per bundle, and the next group is decided while the previous one is written.
 * Deduplication reads nothing for a part never seen before: bundle-seen.ts keeps a Bloom filter
 * of `dtn-seen` in memory (1 MiB, whatever the number of seen ids), built by a keys-only scan of
 * `dtn-seen` at open and rebuilt in the background as expired ids pile up in it. Records are a
 * fixed binary layout plus the bytes (bundle-codec.ts); JSON records of earlier versions are
 * still read, and rewritten in the new layout when next updated.
 *
 * Quota: split into shares per source node_id and per neighbour, with a reserve for bundles
 * addressed to this node (bundle-shares.ts says how). A record that does not fit evicts
 * forward-only copies in its way, the largest remaining lifetime first, in the same atomic batch
 * (each evicted copy leaves its seen id, so it is not taken back); when nothing may give way the
 * change is refused with QUOTA_EXCEEDED, SOURCE_SHARE_EXCEEDED or NEIGHBOUR_SHARE_EXCEEDED and
 * writes nothing. Bundles addressed to this node and this node's own are never evicted: they
 * leave only by custody transfer (ACK), delivery, expiry, or a revoked source.
 */

/** What each refusal of `#makeRoom` says is full. */
const LIMIT_NAMES = { QUOTA_EXCEEDED: 'the store or its forward pool', SOURCE_SHARE_EXCEEDED: 'the source\'s share', NEIGHBOUR_SHARE_EXCEEDED: 'the neighbour\'s share' } as const

/** Seen ids looked at per sweep: bounds its work; a store holding fewer is swept exactly each time. */
export const SEEN_SCAN_PAGE = 4096

export class BundleStore {
  readonly quotaBytes: number
  /** This node's node_id, when given: its own outbound records. */
  readonly self: string | undefined
  readonly #books: ShareBooks
  readonly #bundles: Sublevel<Uint8Array>
  readonly #seen: Sublevel<number>
  readonly #fragments: Sublevel<Uint8Array>
  readonly #inbox: Sublevel<Uint8Array>
  readonly #state: Sublevel<any>
  readonly #index = new BundleIndex()
  #usage: Usage = { bytes: 0, entries: 0 }
  readonly #commits: GroupCommit
  readonly #seenIds: SeenIds
  #closed = false
  /** Where the next sweep's page of seen ids starts ('' = the beginning). */
  #seenCursor = ''

  private constructor (store: MeshStore, options: BundleStoreOptions) {
    if (!Number.isSafeInteger(options.quotaBytes) || options.quotaBytes < 0) { throw new RangeError('quotaBytes must be a non-negative integer') }
    this.quotaBytes = options.quotaBytes
    this.self = options.self
    this.#books = new ShareBooks(shareLimits(options.quotaBytes, {
      localReserve: options.shares?.localReserve ?? BUNDLE_STORE_DEFAULTS.localReserve,
      perSource: options.shares?.perSource ?? BUNDLE_STORE_DEFAULTS.perSource,
      perNeighbour: options.shares?.perNeighbour ?? BUNDLE_STORE_DEFAULTS.perNeighbour
    }), (pk) => this.#index.outbound.get(pk)?.share)
    this.#bundles = store.sublevel('dtn-bundles')
    this.#seen = store.sublevel('dtn-seen')
    this.#fragments = store.sublevel('dtn-fragments')
    this.#inbox = store.sublevel('dtn-inbox')
    this.#state = store.sublevel('dtn-state')
    this.#seenIds = new SeenIds(this.#seen, this.#index, options.seenFilterBitsLog2)
    this.#commits = new GroupCommit({
      db: store.db,
      usage: () => this.#usage,
      setUsage: (u) => { this.#usage = u },
      // seen ids of parts neither a record nor the filter settles, for a whole group in one read
      prefetch: (jobs, tx) => this.#seenIds.prefetch(jobs, tx)
    })
  }

  /** Opens the bundle sublevels of `store` and rebuilds the indexes and the usage from the records. */
  static async open (store: MeshStore, options: BundleStoreOptions): Promise<BundleStore> {
    const s = new BundleStore(store, options)
    // indexes of earlier versions, now rebuilt in memory
    for (const name of ['dtn-outbound', 'dtn-by-dest', 'dtn-expiry'] as const) { await store.sublevel(name).clear() }
    await s.#state.del('usage')
    await s.#rebuild()
    await s.#seenIds.load()
    return s
  }

  async #rebuild (): Promise<void> {
    let bytes = 0
    let entries = 0
    for await (const [pk, v] of this.#bundles.iterator()) {
      const m = decodeRecord<OutboundMeta>(v).meta
      const c = charge(v)
      const share = this.#outboundEntry(m, c)
      this.#index.addOutbound(pk, heldPart(m, c, share))
      this.#books.commitAdd(pk, share)
      bytes += c
      entries++
    }
    for (const [kind, sub] of [['f', this.#fragments], ['i', this.#inbox]] as const) {
      for await (const [key, v] of sub.iterator()) {
        const c = charge(v)
        const m = decodeRecord<{ id: BundleId, expiresAt: number, receivedFrom?: string }>(v).meta
        const share = this.#heldEntry(m, c)
        this.#index.addHeld(kind, key, { expiresAt: m.expiresAt, charge: c, pk: kind === 'f' ? aduOfPart(key) : partKey(m.id, 0), share })
        this.#books.commitAdd(undefined, share)
        bytes += c
        entries++
      }
    }
    this.#usage = { bytes, entries }
  }

  /** Bytes and entries held now, as charged against the quota. */
  get usage (): Usage {
    return { ...this.#usage }
  }

  /** The byte limits the quota is split into (bundle-shares.ts). */
  get shares (): ShareLimits {
    return { ...this.#books.limits }
  }

  /** Bytes held now for one source node_id (`source`) or one neighbour (`neighbour`); own bundles count for no source. */
  shareUsage (who: { source: string } | { neighbour: string }): number {
    return this.#books.bytesOf('source' in who ? `s:${who.source}` : `n:${who.neighbour}`)
  }

  /** Forward-only copies evicted to make room since the store opened. */
  get evicted (): number {
    return this.#books.evicted
  }

  /** The share entry of a fragment or inbox record (addressed to this node; this node's own count for no source). */
  #heldEntry (m: { id: BundleId, expiresAt: number, receivedFrom?: string }, c: number): ShareEntry {
    const own = this.self != null && m.id.source === this.self
    return shareEntry({ source: m.id.source, from: m.receivedFrom, outbound: false, own, expiresAt: m.expiresAt, charge: c })
  }

  #outboundEntry (m: OutboundMeta, c: number): ShareEntry {
    const own = this.self != null && m.id.source === this.self
    return shareEntry({ source: m.id.source, from: m.receivedFrom, outbound: true, own, expiresAt: m.expiresAt, charge: c })
  }

  /** Runs `prepare` in the write queue and commits its change in the next group batch. */
  async #run<T>(prepare: Prepare<T>): Promise<T> {
    if (this.#closed) { throw new BundleStoreError('CLOSED', 'bundle store is closed') }
    return this.#commits.run(prepare)
  }

  /**
   * Keeps `items` atomically and durably (one `sync` batch with everything else queued), or
   * nothing. An item whose part was seen before is skipped and reported `duplicate`; the call
   * fails with QUOTA_EXCEEDED, writing nothing, if the new items would not fit. Each part costs
   * one key, its record (which stands for "seen" while it is held).
   */
  // not `async`: the hot path of the store (bench/dtn.ts); it hands back the queue's own promise
  accept (items: AcceptItem[], state?: { key: string, value: unknown }): Promise<AcceptStatus[]> {
    if (this.#closed) { return Promise.reject(new BundleStoreError('CLOSED', 'bundle store is closed')) }
    const pks: string[] = []
    try {
      for (const item of items) { pks.push(partKey(item.meta.id, item.type === 'delivered' ? (item.offset ?? 0) : item.meta.offset)) }
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#commits.run(tx => this.#acceptNow(tx, items, pks, state) ?? this.#acceptAfterReads(tx, items, pks, state), pks)
  }

  /**
   * Decides an accept from memory alone (the group, the index, the group's reads, the seen
   * filter), or from `read` and `fragments` when the slow path gathered them; undefined, having
   * changed nothing, when it cannot.
   */
  #acceptNow (tx: Tx, items: AcceptItem[], pks: string[], state?: { key: string, value: unknown }, read?: Map<string, boolean>, fragments?: Map<string, string[]>): AcceptStatus[] | undefined {
    // 1. which parts are new, against every change before this one. An outbound copy and a local
    // delivery of the same part may come together (a broadcast): both see the same answer.
    const statuses: AcceptStatus[] = []
    for (let i = 0; i < items.length; i++) {
      const seen = this.#seenIds.now(tx, pks[i]) ?? read?.get(pks[i])
      if (seen === undefined) { return undefined }
      const item = items[i]
      if (item.type === 'delivered' && item.offset != null && fragments == null) { return undefined }
      statuses.push(seen ? 'duplicate' : 'accepted')
    }
    // 2. the new ones' records (a throw below rolls all of this back: group-commit.ts, and the
    // share books' own `undo`)
    this.#books.begin()
    try {
      let bytes = 0
      let entries = 0
      const adds: ShareEntry[] = []
      for (let i = 0; i < items.length; i++) {
        if (statuses[i] !== 'accepted') { continue }
        const kept = this.#keep(tx, items[i], pks[i], fragments)
        adds.push(kept)
        bytes += kept.charge
        entries++
      }
      // 3. room: forward-only copies in the way give way, or the change is refused (the
      // fragments a completed ADU frees are already credited)
      if (adds.length > 0) { this.#makeRoom(tx, adds) }
      tx.charge(bytes, entries)
      for (let i = 0; i < adds.length; i++) { this.#books.pend(tx, adds[i], 1) }
      for (let i = 0; i < items.length; i++) { if (statuses[i] === 'accepted') { tx.markWritten(pks[i]) } }
      if (state != null) { tx.put(this.#state, state.key, state.value) }
      this.#books.end()
      return statuses
    } catch (err) {
      this.#books.undo()
      throw err
    }
  }

  /**
   * Evicts forward-only copies until `adds` fit every share, the forward pool and the quota
   * (bundle-shares.ts), largest remaining lifetime first; throws the first limit's code, having
   * evicted nothing that stays evicted (the caller rolls the change back), when none may give way.
   */
  #makeRoom (tx: Tx, adds: ShareEntry[]): void {
    // a forward-only newcomer displaces only copies that would outlive it; one addressed to this
    // node, or this node's own, displaces any
    let outliving: number | undefined = Number.POSITIVE_INFINITY
    for (const e of adds) {
      if (!e.outbound || e.own) {
        outliving = undefined
        break
      }
      outliving = Math.min(outliving, e.expiresAt)
    }
    for (let guard = 0; guard < 1_000_000; guard++) {
      const breach = this.#books.breach(tx, adds)
      if (breach == null) { return }
      const victim = this.#books.victim(tx, breach.account, outliving)
      // [REFUSE] nothing may give way: nothing of this change is written
      if (victim == null) {
        throw new BundleStoreError(breach.code, `${LIMIT_NAMES[breach.code]} is full (store holds ${tx.usage.bytes} of ${this.quotaBytes} bytes)`)
      }
      this.#removeOutbound(tx, victim, true)
      tx.onCommit(() => { this.#books.evicted++ })
    }
    throw new BundleStoreError('QUOTA_EXCEEDED', 'no room could be made')
  }

  /** Writes one new part's record into the group; returns its share entry (its charge included). */
  #keep (tx: Tx, item: AcceptItem, pk: string, fragments?: Map<string, string[]>): ShareEntry {
    if (item.type === 'outbound') {
      const m = item.meta
      const value = encodeRecord('outbound', m, item.bytes)
      const c = charge(value)
      const entry = this.#outboundEntry(m, c)
      tx.put(this.#bundles, pk, value)
      tx.onCommit(() => {
        // a part is never accepted twice while held (deduplication); were it, its books move with it
        const replaced = this.#index.outbound.get(pk)
        if (replaced != null) { this.#books.commitRemove(replaced.share) }
        this.#index.addOutbound(pk, heldPart(m, c, entry))
        this.#books.commitAdd(pk, entry)
      })
      return entry
    }
    if (item.type === 'fragment') {
      const value = encodeRecord('fragment', item.meta, item.payload)
      const c = charge(value)
      const fk = fragmentKey(pk, item.meta.length)
      const expiresAt = item.meta.expiresAt
      const entry = this.#heldEntry(item.meta, c)
      tx.put(this.#fragments, fk, value)
      tx.onCommit(() => {
        this.#index.addHeld('f', fk, { expiresAt, charge: c, pk, share: entry })
        this.#books.commitAdd(undefined, entry)
      })
      return entry
    }
    const ak = aduKey(item.meta.id)
    const value = encodeRecord('delivered', item.meta, item.payload)
    const c = charge(value)
    const expiresAt = item.meta.expiresAt
    const wholePk = partKey(item.meta.id, 0)
    const entry = this.#heldEntry(item.meta, c)
    tx.put(this.#inbox, ak, value)
    tx.onCommit(() => {
      this.#index.addHeld('i', ak, { expiresAt, charge: c, pk: wholePk, share: entry })
      this.#books.commitAdd(undefined, entry)
    })
    // the fragments it was made of leave in the same batch, each leaving its seen id, as does
    // the fragment that completed it
    if (item.offset != null) {
      for (const key of fragments?.get(ak) ?? []) { this.#deleteHeld(tx, 'f', key, expiresAt) }
      this.#putSeen(tx, pk, expiresAt)
    }
    return entry
  }

  /** The slow path of an accept: reads what memory could not tell, then decides. */
  async #acceptAfterReads (tx: Tx, items: AcceptItem[], pks: string[], state?: { key: string, value: unknown }): Promise<AcceptStatus[]> {
    const read = new Map<string, boolean>()
    const fragments = new Map<string, string[]>()
    for (let i = 0; i < items.length; i++) {
      if (!read.has(pks[i])) { read.set(pks[i], await this.#seenIds.read(pks[i])) }
      const item = items[i]
      if (item.type === 'delivered' && item.offset != null) {
        const ak = aduKey(item.meta.id)
        if (!fragments.has(ak)) { fragments.set(ak, await this.#fragments.keys(under(ak)).all()) }
      }
    }
    // every part was read and every fragment list made: this decides
    return this.#acceptNow(tx, items, pks, state, read, fragments) as AcceptStatus[]
  }

  /** True when the part (bundle or fragment at `offset`) was accepted before and has not expired. */
  async hasSeen (id: BundleId, offset = 0): Promise<boolean> {
    return this.#seenIds.has(partKey(id, offset))
  }

  /** A bundle held for forwarding. */
  async getOutbound (id: BundleId, offset = 0): Promise<{ meta: OutboundMeta, bytes: Uint8Array } | undefined> {
    const pk = partKey(id, offset)
    const v = await this.#bundles.get(pk)
    if (v == null) { return undefined }
    const r = decodeRecord<OutboundMeta>(v)
    return { meta: this.#overlay(pk, r.meta), bytes: r.data }
  }

  /** Outbound bundles whose next attempt is due at `now`, earliest first (at most `limit`). */
  async dueOutbound (now: number, limit = 256): Promise<OutboundMeta[]> {
    return this.#metas(this.#index.due(now, limit))
  }

  /** Time of the earliest scheduled attempt, if any (for the retry timer). */
  async nextAttemptTime (): Promise<number | undefined> {
    return this.#index.nextAttemptTime()
  }

  /** Outbound bundles addressed to `destination` (a node_id, or broadcast). */
  async outboundFor (destination: string, broadcast: boolean, limit = 256): Promise<OutboundMeta[]> {
    return this.#metas(this.#index.forDest(destKey(destination, broadcast), limit))
  }

  /** Outbound bundles that still hold more than one spray-and-wait copy (offered to each new relay). */
  async sprayable (limit = 256): Promise<OutboundMeta[]> {
    return this.#metas(this.#index.sprayable(limit))
  }

  /** How many parts are held for forwarding (from the index: no read). */
  get outboundCount (): number {
    return this.#index.outbound.size
  }

  /** Every outbound bundle (for listings), in key order. */
  async listOutbound (limit = 256): Promise<OutboundMeta[]> {
    const out: OutboundMeta[] = []
    for await (const [pk, v] of this.#bundles.iterator({ limit })) { out.push(this.#overlay(pk, decodeRecord<OutboundMeta>(v).meta)) }
    return out
  }

  async #metas (pks: string[]): Promise<OutboundMeta[]> {
    if (pks.length === 0) { return [] }
    const values = await this.#bundles.getMany(pks)
    const out: OutboundMeta[] = []
    values.forEach((v, i) => { if (v != null) { out.push(this.#overlay(pks[i], decodeRecord<OutboundMeta>(v).meta)) } })
    return out
  }

  /** The record's meta with the schedule as the index holds it now. */
  #overlay (pk: string, meta: OutboundMeta): OutboundMeta {
    const part = this.#index.outbound.get(pk)
    if (part != null) {
      meta.attempts = part.attempts
      meta.nextAttemptAt = part.nextAttemptAt
      meta.copies = part.copies
    }
    return meta
  }

  /** Byte ranges (from keys) of the fragments held for ADU `id`, and one's metadata; see bundle-queries.ts. */
  async fragmentRanges (id: BundleId): Promise<{ ranges: Array<{ offset: number, length: number }>, sample?: FragmentMeta }> {
    return fragmentRanges(this.#fragments, id)
  }

  /** Fragments held for the ADU `id`, payloads included, in offset order. */
  async fragmentsOf (id: BundleId): Promise<Array<{ meta: FragmentMeta, payload: Uint8Array }>> {
    return fragmentsOf(this.#fragments, id)
  }

  /** ADUs being reassembled here, with the fragments and bytes held so far. */
  async listReassembly (limit = 256): Promise<Array<{ meta: FragmentMeta, fragments: number, bytesHeld: number }>> {
    return listReassembly(this.#fragments, limit)
  }

  /** Bundles delivered to this node and not expired at `now`. */
  async listInbox (now: number, limit = 256): Promise<Array<{ meta: DeliveredMeta, payload: Uint8Array }>> {
    return listInbox(this.#inbox, now, limit)
  }

  /** One delivered bundle, unless expired at `now`. */
  async getDelivered (id: BundleId, now: number): Promise<{ meta: DeliveredMeta, payload: Uint8Array } | undefined> {
    return getDelivered(this.#inbox, id, now)
  }

  /**
   * Moves an outbound part's retry schedule. In memory only (see the header): no write, so
   * planning a retry costs nothing on disk. False when the part is no longer held.
   */
  reschedule (id: BundleId, offset: number, patch: { attempts?: number, nextAttemptAt?: number }): boolean {
    return this.#index.reschedule(partKey(id, offset), patch)
  }

  /**
   * Updates an outbound bundle's bookkeeping durably (after a spray or an ACK: copies, holders),
   * rewriting its record with the schedule as it stands; schedule-only patches go to `reschedule`.
   */
  async updateOutbound (id: BundleId, offset: number, patch: Partial<Pick<OutboundMeta, 'copies' | 'attempts' | 'nextAttemptAt' | 'sentTo'>>): Promise<OutboundMeta> {
    if (patch.copies == null && patch.sentTo == null) {
      const held = await this.getOutbound(id, offset)
      if (held == null || !this.reschedule(id, offset, patch)) { throw new BundleStoreError('NOT_FOUND', 'no such outbound bundle') }
      return { ...held.meta, ...patch }
    }
    return this.#run(async (tx) => {
      const pk = partKey(id, offset)
      const v = tx.gone(`b:${pk}`) ? undefined : await this.#bundles.get(pk)
      if (v == null) { throw new BundleStoreError('NOT_FOUND', 'no such outbound bundle') }
      const { meta, data } = decodeRecord<OutboundMeta>(v)
      const next: OutboundMeta = { ...this.#overlay(pk, meta), ...patch }
      const value = encodeRecord('outbound', next, data)
      const c = charge(value)
      tx.put(this.#bundles, pk, value)
      tx.charge(c - charge(v), 0)
      const entry = this.#index.outbound.get(pk)?.share
      if (entry != null) { this.#books.pend(tx, entry, 1, c - charge(v)) }
      tx.onCommit(() => {
        const part = this.#index.outbound.get(pk)
        if (part == null) { return }
        this.#books.commitRecharge(part.share, c)
        part.charge = c
        this.#index.reschedule(pk, { copies: next.copies, attempts: next.attempts, nextAttemptAt: next.nextAttemptAt })
      })
      return next
    })
  }

  /**
   * Lets go of an outbound bundle once custody has passed (the next hop acknowledged its durable
   * write). The seen entry stays until expiry, so the bundle is not taken back. Idempotent.
   */
  async release (id: BundleId, offset = 0): Promise<boolean> {
    return this.#run((tx) => this.#removeOutbound(tx, partKey(id, offset), true))
  }

  /**
   * Deletes an outbound record once per group, crediting its size back (no read: the index has
   * it); with `keepSeen`, its seen id takes over in the same batch. True when it deleted.
   */
  #removeOutbound (tx: Tx, pk: string, keepSeen: boolean): boolean {
    const part = this.#index.outbound.get(pk)
    if (part == null || tx.gone(`b:${pk}`)) { return false }
    tx.markDeleted(`b:${pk}`)
    tx.del(this.#bundles, pk)
    if (keepSeen) { this.#putSeen(tx, pk, part.expiresAt) }
    tx.charge(-part.charge, -1)
    this.#books.pend(tx, part.share, -1)
    tx.onCommit(() => {
      const gone = this.#index.removeOutbound(pk)
      if (gone != null) { this.#books.commitRemove(gone.share) }
    })
    return true
  }

  /** Deletes a fragment or inbox entry once per group, crediting its size back; with `seenUntil`, its seen id takes over. True when it deleted. */
  #deleteHeld (tx: Tx, kind: 'f' | 'i', key: string, seenUntil?: number): boolean {
    const held = this.#index.held.get(`${kind}:${key}`)
    if (held == null || tx.gone(`${kind}:${key}`)) { return false }
    tx.markDeleted(`${kind}:${key}`)
    tx.del(kind === 'f' ? this.#fragments : this.#inbox, key)
    if (seenUntil != null) { this.#putSeen(tx, held.pk, seenUntil) }
    tx.charge(-held.charge, -1)
    this.#books.pend(tx, held.share, -1)
    tx.onCommit(() => {
      const gone = this.#index.removeHeld(kind, key)
      if (gone != null) { this.#books.commitRemove(gone.share) }
    })
    return true
  }

  #putSeen (tx: Tx, pk: string, expiresAt: number): void {
    if (tx.wrote(`s:${pk}`)) { return }
    tx.markWritten(`s:${pk}`)
    tx.markWritten(pk)
    tx.put(this.#seen, pk, expiresAt)
    this.#seenIds.decided(pk)
    tx.onCommit(() => { this.#seenIds.committed(pk) })
  }

  #deleteSeen (tx: Tx, pk: string): void {
    if (tx.gone(`s:${pk}`)) { return }
    tx.markDeleted(`s:${pk}`)
    tx.del(this.#seen, pk)
  }

  /** Removes a delivered bundle from the inbox (the application took it). Its seen entries stay until expiry. */
  async removeDelivered (id: BundleId): Promise<boolean> {
    return this.#run((tx) => {
      const held = this.#index.held.get(`i:${aduKey(id)}`)
      return this.#deleteHeld(tx, 'i', aduKey(id), held?.expiresAt)
    })
  }

  /**
   * Removes what expired at `now`: held bundles, fragments awaiting reassembly and inbox entries
   * (with the seen ids of bundles and fragments), then a page of expired seen ids. Processes at
   * most `limit` entries and returns how many; call again while it returns `limit`.
   */
  async sweep (now: number, limit = 1024): Promise<number> {
    return this.#run(async (tx) => {
      let n = 0
      for (const { kind, key } of this.#index.expired(now, limit)) {
        n++
        // expired: the record goes, and no seen id replaces it (an expired bundle is refused anyway)
        if (kind === 'b') {
          this.#removeOutbound(tx, key, false)
          this.#deleteSeen(tx, key)
        } else {
          const pk = this.#index.held.get(`${kind}:${key}`)?.pk
          this.#deleteHeld(tx, kind, key)
          if (pk != null) { this.#deleteSeen(tx, pk) }
        }
      }
      if (n < limit) { n += await this.#sweepSeen(tx, now, limit - n) }
      return n
    })
  }

  /** One page of `dtn-seen` from the cursor: drops expired ids (not those of records still held). */
  async #sweepSeen (tx: Tx, now: number, limit: number): Promise<number> {
    let n = 0
    let scanned = 0
    let last = ''
    for await (const [pk, expiresAt] of this.#seen.iterator({ gt: this.#seenCursor, limit: SEEN_SCAN_PAGE })) {
      scanned++
      last = pk
      if (expiresAt > now || tx.gone(`s:${pk}`) || this.#index.holds(pk)) { continue }
      this.#deleteSeen(tx, pk)
      if (++n >= limit) { break }
    }
    // wrap to the start once a page comes back short: the next sweep begins a new pass
    this.#seenCursor = n < limit && scanned < SEEN_SCAN_PAGE ? '' : last
    return n
  }

  /**
   * Purges every bundle, fragment and inbox entry whose source is `source` (a revoked node).
   * Seen ids replace them, so the purged bundles are not accepted again before they expire.
   */
  async purgeSource (source: string): Promise<number> {
    return this.#purge(under(hexText(source)), () => true)
  }

  /** Purges everything whose signer `isRevoked` says is revoked (a CRL naming serials, not nodes). */
  async purgeWhere (isRevoked: (signer: PeerIdentity) => boolean): Promise<number> {
    return this.#purge({}, isRevoked)
  }

  async #purge (range: Record<string, string>, match: (signer: PeerIdentity) => boolean): Promise<number> {
    return this.#run(async (tx) => {
      let n = 0
      const test = (signer: PeerIdentity): boolean => {
        try {
          return match(signer)
        } catch {
          return true // fail closed, as the revocation state does
        }
      }
      for await (const [key, v] of this.#bundles.iterator(range)) {
        if (!test(decodeRecord<OutboundMeta>(v).meta.signer)) { continue }
        this.#removeOutbound(tx, key, true)
        n++
      }
      for (const [kind, sub] of [['f', this.#fragments], ['i', this.#inbox]] as const) {
        for await (const [key, v] of sub.iterator(range)) {
          const meta = decodeRecord<{ signer: PeerIdentity, expiresAt: number }>(v).meta
          if (!test(meta.signer)) { continue }
          this.#deleteHeld(tx, kind, key, meta.expiresAt)
          n++
        }
      }
      return n
    })
  }

  /** Reads a small state value (the agent keeps its last bundle id here). */
  async getState<T>(key: string): Promise<T | undefined> {
    return await this.#state.get(key) as T | undefined
  }

  /** Writes a small state value durably, in the write queue. */
  async putState (key: string, value: unknown): Promise<void> {
    await this.#run((tx) => { tx.put(this.#state, key, value) })
  }

  /** Waits for queued writes, then refuses new ones. The MeshStore itself is closed by its owner. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#commits.idle()
    await this.#seenIds.close()
  }
}

function heldPart (m: OutboundMeta, c: number, share: ShareEntry): HeldPart {
  return { nextAttemptAt: m.nextAttemptAt, attempts: m.attempts, expiresAt: m.expiresAt, dest: destKey(m.destination, m.broadcast), copies: m.copies, charge: c, share }
}

/** The ADU key of a part key, re-exported for the agent's locks. */
export { aduKey, aduOfPart, partKey }
