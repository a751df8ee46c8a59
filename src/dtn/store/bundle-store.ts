import { AcceptDecision } from './bundle-accept.ts'
import { BundleExpiry } from './bundle-expiry.ts'
import { aduKey, aduOfPart, destKey, hexText, partKey, under } from './bundle-keys.ts'
import { fragmentRanges, fragmentsOf, getDelivered, listInbox, listReassembly, outboundMetas, overlay } from './bundle-queries.ts'
import { rebuildFromRecords } from './bundle-rebuild.ts'
import { BundleStoreError, charge, decodeRecord, encodeRecord } from './bundle-records.ts'
import { RecordWriter } from './bundle-writes.ts'
import { GroupCommit } from './group-commit.ts'
import type { StateWrite } from './bundle-accept.ts'
import type { AcceptItem, AcceptStatus, BundleStoreOptions, DeliveredMeta, FragmentMeta, OutboundMeta, Usage } from './bundle-records.ts'
import type { ShareLimits } from './bundle-shares.ts'
import type { Prepare } from './group-commit.ts'
import type { PeerIdentity } from '../../pki/peer-verifier.ts'
import type { MeshStore } from '../../store/mesh-store.ts'
import type { BundleId } from '../bundle-id.ts'

export { BundleStoreError, ENTRY_OVERHEAD_BYTES, STORE_REFUSAL_CODES } from './bundle-records.ts'
export { SEEN_SCAN_PAGE } from './bundle-expiry.ts'
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
 * The secondary indexes - outbound by next attempt time, by destination, and by expiry - live in
 * memory (bundle-index.ts) and are rebuilt from the records at open (bundle-rebuild.ts), because
 * every field they hold is in the record already: writing them too would make each accept five
 * keys, and a LevelDB write costs mostly per key: five keys per accept would cut the accept rate.
 * The price is a scan of the records at open (proportional to the bytes held, so bounded by the
 * quota) and memory of one small entry per stored record (bounded by the quota). The retry schedule
 * (attempts, next attempt) is kept in memory only: after a restart every held bundle is due at
 * once, which is what a node that was down should do anyway; spray copies and holders are written
 * through. Seen ids are not indexed by expiry: each sweep scans a bounded page of `dtn-seen` from
 * a cursor and drops the expired ones, so memory never grows with the number of bundles seen
 * (bundle-expiry.ts). A store that carries on-disk index sublevels has them cleared at open.
 *
 * Every change is one atomic `sync` batch; the in-memory indexes change only after it committed
 * (bundle-writes.ts holds the record-level steps, bundle-accept.ts the accept decision).
 * Concurrent changes are group-committed, pipelined (group-commit.ts): one fsync per group of
 * changes, not per bundle, and the next group is decided while the previous one is written.
 * Deduplication reads nothing for a part never seen before: bundle-seen.ts keeps a Bloom filter
 * of `dtn-seen` in memory (1 MiB, whatever the number of seen ids), built by a keys-only scan of
 * `dtn-seen` at open and rebuilt in the background as expired ids pile up in it. Records are a
 * fixed binary layout plus the bytes (bundle-codec.ts), which also reads records stored as JSON;
 * an update rewrites those in the binary layout.
 *
 * Quota: split into shares per source node_id and per neighbour, with a reserve for bundles
 * addressed to this node (bundle-shares.ts says how). A record that does not fit evicts
 * forward-only copies in its way, the largest remaining lifetime first, in the same atomic batch
 * (each evicted copy leaves its seen id, so it is not taken back); when nothing may give way the
 * change is refused with QUOTA_EXCEEDED, SOURCE_SHARE_EXCEEDED or NEIGHBOUR_SHARE_EXCEEDED and
 * writes nothing. Bundles addressed to this node and this node's own are never evicted: they
 * leave only by custody transfer (ACK), delivery, expiry, or a revoked source.
 */

export class BundleStore {
  readonly quotaBytes: number
  /** This node's node_id, when given: its own outbound records. */
  readonly self: string | undefined
  /** The sublevels, the index and the share books, and the record-level steps on them. */
  readonly #w: RecordWriter
  readonly #accept: AcceptDecision
  readonly #expiry: BundleExpiry
  #usage: Usage = { bytes: 0, entries: 0 }
  readonly #commits: GroupCommit
  #closed = false

  private constructor (store: MeshStore, options: BundleStoreOptions) {
    if (!Number.isSafeInteger(options.quotaBytes) || options.quotaBytes < 0) { throw new RangeError('quotaBytes must be a non-negative integer') }
    this.quotaBytes = options.quotaBytes
    this.self = options.self
    this.#w = new RecordWriter(store, options)
    this.#accept = new AcceptDecision(this.#w, options.quotaBytes)
    this.#expiry = new BundleExpiry(this.#w)
    this.#commits = new GroupCommit({
      db: store.db,
      usage: () => this.#usage,
      setUsage: (u) => { this.#usage = u },
      // seen ids of parts neither a record nor the filter settles, for a whole group in one read
      prefetch: (jobs, tx) => this.#w.seenIds.prefetch(jobs, tx)
    })
  }

  /** Opens the bundle sublevels of `store` and rebuilds the indexes and the usage from the records. */
  static async open (store: MeshStore, options: BundleStoreOptions): Promise<BundleStore> {
    const s = new BundleStore(store, options)
    s.#usage = await rebuildFromRecords(store, s.#w)
    await s.#w.seenIds.load()
    return s
  }

  /** Bytes and entries held now, as charged against the quota. */
  get usage (): Usage {
    return { ...this.#usage }
  }

  /** The byte limits the quota is split into (bundle-shares.ts). */
  get shares (): ShareLimits {
    return { ...this.#w.books.limits }
  }

  /** Bytes held now for one source node_id (`source`) or one neighbour (`neighbour`); own bundles count for no source. */
  shareUsage (who: { source: string } | { neighbour: string }): number {
    return this.#w.books.bytesOf('source' in who ? `s:${who.source}` : `n:${who.neighbour}`)
  }

  /** Forward-only copies evicted to make room since the store opened. */
  get evicted (): number {
    return this.#w.books.evicted
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
  accept (items: AcceptItem[], state?: StateWrite): Promise<AcceptStatus[]> {
    if (this.#closed) { return Promise.reject(new BundleStoreError('CLOSED', 'bundle store is closed')) }
    const pks: string[] = []
    try {
      for (const item of items) { pks.push(partKey(item.meta.id, item.type === 'delivered' ? (item.offset ?? 0) : item.meta.offset)) }
    } catch (err) {
      return Promise.reject(err)
    }
    const decide = this.#accept
    return this.#commits.run(tx => decide.now(tx, items, pks, state) ?? decide.afterReads(tx, items, pks, state), pks)
  }

  /** True when the part (bundle or fragment at `offset`) was accepted before and has not expired. */
  async hasSeen (id: BundleId, offset = 0): Promise<boolean> {
    return this.#w.seenIds.has(partKey(id, offset))
  }

  /** A bundle held for forwarding. */
  async getOutbound (id: BundleId, offset = 0): Promise<{ meta: OutboundMeta, bytes: Uint8Array } | undefined> {
    const pk = partKey(id, offset)
    const v = await this.#w.bundles.get(pk)
    if (v == null) { return undefined }
    const r = decodeRecord<OutboundMeta>(v)
    return { meta: overlay(this.#w.index, pk, r.meta), bytes: r.data }
  }

  /** Outbound bundles whose next attempt is due at `now`, earliest first (at most `limit`). */
  async dueOutbound (now: number, limit = 256): Promise<OutboundMeta[]> {
    return outboundMetas(this.#w.bundles, this.#w.index, this.#w.index.due(now, limit))
  }

  /** Time of the earliest scheduled attempt, if any (for the retry timer). */
  async nextAttemptTime (): Promise<number | undefined> {
    return this.#w.index.nextAttemptTime()
  }

  /** Outbound bundles addressed to `destination` (a node_id, or broadcast). */
  async outboundFor (destination: string, broadcast: boolean, limit = 256): Promise<OutboundMeta[]> {
    return outboundMetas(this.#w.bundles, this.#w.index, this.#w.index.forDest(destKey(destination, broadcast), limit))
  }

  /** Outbound bundles that still hold more than one spray-and-wait copy (offered to each new relay). */
  async sprayable (limit = 256): Promise<OutboundMeta[]> {
    return outboundMetas(this.#w.bundles, this.#w.index, this.#w.index.sprayable(limit))
  }

  /** How many parts are held for forwarding (from the index: no read). */
  get outboundCount (): number {
    return this.#w.index.outbound.size
  }

  /** Every outbound bundle (for listings), in key order. */
  async listOutbound (limit = 256): Promise<OutboundMeta[]> {
    const out: OutboundMeta[] = []
    for await (const [pk, v] of this.#w.bundles.iterator({ limit })) { out.push(overlay(this.#w.index, pk, decodeRecord<OutboundMeta>(v).meta)) }
    return out
  }

  /** Byte ranges (from keys) of the fragments held for ADU `id`, and one's metadata; see bundle-queries.ts. */
  async fragmentRanges (id: BundleId): Promise<{ ranges: Array<{ offset: number, length: number }>, sample?: FragmentMeta }> {
    return fragmentRanges(this.#w.fragments, id)
  }

  /** Fragments held for the ADU `id`, payloads included, in offset order. */
  async fragmentsOf (id: BundleId): Promise<Array<{ meta: FragmentMeta, payload: Uint8Array }>> {
    return fragmentsOf(this.#w.fragments, id)
  }

  /** ADUs being reassembled here, with the fragments and bytes held so far. */
  async listReassembly (limit = 256): Promise<Array<{ meta: FragmentMeta, fragments: number, bytesHeld: number }>> {
    return listReassembly(this.#w.fragments, limit)
  }

  /** Bundles delivered to this node and not expired at `now`. */
  async listInbox (now: number, limit = 256): Promise<Array<{ meta: DeliveredMeta, payload: Uint8Array }>> {
    return listInbox(this.#w.inbox, now, limit)
  }

  /** One delivered bundle, unless expired at `now`. */
  async getDelivered (id: BundleId, now: number): Promise<{ meta: DeliveredMeta, payload: Uint8Array } | undefined> {
    return getDelivered(this.#w.inbox, id, now)
  }

  /**
   * Moves an outbound part's retry schedule. In memory only (see the header): no write, so
   * planning a retry costs nothing on disk. False when the part is not held.
   */
  reschedule (id: BundleId, offset: number, patch: { attempts?: number, nextAttemptAt?: number }): boolean {
    return this.#w.index.reschedule(partKey(id, offset), patch)
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
    const w = this.#w
    return this.#run(async (tx) => {
      const pk = partKey(id, offset)
      const v = tx.gone(`b:${pk}`) ? undefined : await w.bundles.get(pk)
      if (v == null) { throw new BundleStoreError('NOT_FOUND', 'no such outbound bundle') }
      const { meta, data } = decodeRecord<OutboundMeta>(v)
      const next: OutboundMeta = { ...overlay(w.index, pk, meta), ...patch }
      const value = encodeRecord('outbound', next, data)
      const c = charge(value)
      tx.put(w.bundles, pk, value)
      tx.charge(c - charge(v), 0)
      const entry = w.index.outbound.get(pk)?.share
      if (entry != null) { w.books.pend(tx, entry, 1, c - charge(v)) }
      tx.onCommit(() => {
        const part = w.index.outbound.get(pk)
        if (part == null) { return }
        w.books.commitRecharge(part.share, c)
        part.charge = c
        w.index.reschedule(pk, { copies: next.copies, attempts: next.attempts, nextAttemptAt: next.nextAttemptAt })
      })
      return next
    })
  }

  /**
   * Lets go of an outbound bundle once custody has passed (the next hop acknowledged its durable
   * write). The seen entry stays until expiry, so the bundle is not taken back. Idempotent.
   */
  async release (id: BundleId, offset = 0): Promise<boolean> {
    return this.#run((tx) => this.#w.removeOutbound(tx, partKey(id, offset), true))
  }

  /** Removes a delivered bundle from the inbox (the application took it). Its seen entries stay until expiry. */
  async removeDelivered (id: BundleId): Promise<boolean> {
    return this.#run((tx) => {
      const held = this.#w.index.held.get(`i:${aduKey(id)}`)
      return this.#w.deleteHeld(tx, 'i', aduKey(id), held?.expiresAt)
    })
  }

  /**
   * Removes what expired at `now` (bundle-expiry.ts): held bundles, fragments awaiting reassembly
   * and inbox entries, then a page of expired seen ids. Processes at most `limit` entries and
   * returns how many; call again while it returns `limit`.
   */
  async sweep (now: number, limit = 1024): Promise<number> {
    return this.#run(async (tx) => this.#expiry.sweep(tx, now, limit))
  }

  /**
   * Purges every bundle, fragment and inbox entry whose source is `source` (a revoked node).
   * Seen ids replace them, so the purged bundles are not accepted again before they expire.
   */
  async purgeSource (source: string): Promise<number> {
    return this.#run(async (tx) => this.#expiry.purge(tx, under(hexText(source)), () => true))
  }

  /** Purges everything whose signer `isRevoked` says is revoked (a CRL naming serials, not nodes). */
  async purgeWhere (isRevoked: (signer: PeerIdentity) => boolean): Promise<number> {
    return this.#run(async (tx) => this.#expiry.purge(tx, {}, isRevoked))
  }

  /** Reads a small state value (the agent keeps its last bundle id here). */
  async getState<T>(key: string): Promise<T | undefined> {
    return await this.#w.state.get(key) as T | undefined
  }

  /** Writes a small state value durably, in the write queue. */
  async putState (key: string, value: unknown): Promise<void> {
    await this.#run((tx) => { tx.put(this.#w.state, key, value) })
  }

  /** Waits for queued writes, then refuses new ones. The MeshStore itself is closed by its owner. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#commits.idle()
    await this.#w.seenIds.close()
  }
}

/** The ADU key of a part key, re-exported for the agent's locks. */
export { aduKey, aduOfPart, partKey }
