import { BundleIndex } from './bundle-index.ts'
import { aduKey, aduOfPart, destKey, fragmentKey, hexText, partKey, under } from './bundle-keys.ts'
import { fragmentRanges, fragmentsOf, getDelivered, listInbox, listReassembly } from './bundle-queries.ts'
import { BundleStoreError, charge, decodeRecord, encodeRecord } from './bundle-records.ts'
import { emptyChange, GroupCommit } from './group-commit.ts'
import type { HeldPart } from './bundle-index.ts'
import type { AcceptItem, AcceptStatus, BundleStoreOptions, DeliveredMeta, FragmentMeta, OutboundMeta, Usage } from './bundle-records.ts'
import type { Change, Prepare, Tx } from './group-commit.ts'
import type { MeshStore, Sublevel } from './mesh-store.ts'
import type { BundleId } from '../dtn/bundle-id.ts'
import type { PeerIdentity } from '../node/peer-verifier.ts'

export { BundleStoreError, ENTRY_OVERHEAD_BYTES } from './bundle-records.ts'
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
 *
 * Quota (issue 7): a change that would take the stored bytes over the quota is refused with
 * BundleStoreError QUOTA_EXCEEDED and writes nothing. Nothing accepted is ever evicted to make
 * room: bundles leave only by custody transfer (ACK), delivery, expiry, or a revoked source.
 */

/** Seen ids looked at per sweep: bounds its work; a store holding fewer is swept exactly each time. */
export const SEEN_SCAN_PAGE = 4096

export class BundleStore {
  readonly quotaBytes: number
  readonly #bundles: Sublevel<Uint8Array>
  readonly #seen: Sublevel<number>
  readonly #fragments: Sublevel<Uint8Array>
  readonly #inbox: Sublevel<Uint8Array>
  readonly #state: Sublevel<any>
  readonly #index = new BundleIndex()
  #usage: Usage = { bytes: 0, entries: 0 }
  readonly #commits: GroupCommit
  #closed = false
  /** Where the next sweep's page of seen ids starts ('' = the beginning). */
  #seenCursor = ''

  private constructor (store: MeshStore, options: BundleStoreOptions) {
    if (!Number.isSafeInteger(options.quotaBytes) || options.quotaBytes < 0) { throw new RangeError('quotaBytes must be a non-negative integer') }
    this.quotaBytes = options.quotaBytes
    this.#bundles = store.sublevel('dtn-bundles')
    this.#seen = store.sublevel('dtn-seen')
    this.#fragments = store.sublevel('dtn-fragments')
    this.#inbox = store.sublevel('dtn-inbox')
    this.#state = store.sublevel('dtn-state')
    this.#commits = new GroupCommit({
      db: store.db,
      usage: () => this.#usage,
      setUsage: (u) => { this.#usage = u },
      // seen ids of parts no record stands for, for a whole group in one read
      prefetch: async (keys, tx) => {
        const wanted = keys.filter(k => !this.#index.holds(k))
        if (wanted.length === 0) { return }
        const found = await this.#seen.getMany(wanted)
        wanted.forEach((k, i) => tx.seen.set(k, found[i] != null))
      }
    })
  }

  /** Opens the bundle sublevels of `store` and rebuilds the indexes and the usage from the records. */
  static async open (store: MeshStore, options: BundleStoreOptions): Promise<BundleStore> {
    const s = new BundleStore(store, options)
    // indexes of earlier versions, now rebuilt in memory
    for (const name of ['dtn-outbound', 'dtn-by-dest', 'dtn-expiry'] as const) { await store.sublevel(name).clear() }
    await s.#state.del('usage')
    await s.#rebuild()
    return s
  }

  async #rebuild (): Promise<void> {
    let bytes = 0
    let entries = 0
    for await (const [pk, v] of this.#bundles.iterator()) {
      const m = decodeRecord<OutboundMeta>(v).meta
      const c = charge(v)
      this.#index.addOutbound(pk, heldPart(m, c))
      bytes += c
      entries++
    }
    for (const [kind, sub] of [['f', this.#fragments], ['i', this.#inbox]] as const) {
      for await (const [key, v] of sub.iterator()) {
        const c = charge(v)
        const m = decodeRecord<{ id: BundleId, expiresAt: number }>(v).meta
        this.#index.addHeld(kind, key, { expiresAt: m.expiresAt, charge: c, pk: kind === 'f' ? aduOfPart(key) : partKey(m.id, 0) })
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

  /** Runs `prepare` in the write queue and commits its change in the next group batch. */
  async #run<T>(prepare: Prepare<T>, seenKeys?: string[]): Promise<T> {
    if (this.#closed) { throw new BundleStoreError('CLOSED', 'bundle store is closed') }
    return this.#commits.run(prepare, seenKeys)
  }

  /** Seen, from what the group and the index know; undefined when only a read can tell. */
  #seenNow (tx: Tx, key: string): boolean | undefined {
    if (tx.wrote(key)) { return true }
    if (tx.gone(`s:${key}`)) { return false }
    if (this.#index.holds(key)) { return true }
    return tx.seen.get(key)
  }

  async #isSeen (tx: Tx, key: string): Promise<boolean> {
    return this.#seenNow(tx, key) ?? (await this.#seen.get(key)) != null
  }

  /**
   * Keeps `items` atomically and durably (one `sync` batch with everything else queued), or
   * nothing. An item whose part was seen before is skipped and reported `duplicate`; the call
   * fails with QUOTA_EXCEEDED, writing nothing, if the new items would not fit. Each part costs
   * one key, its record (which stands for "seen" while it is held).
   */
  async accept (items: AcceptItem[], state?: { key: string, value: unknown }): Promise<AcceptStatus[]> {
    const pks = items.map(item => partKey(item.meta.id, item.type === 'delivered' ? (item.offset ?? 0) : item.meta.offset))
    return this.#run(async (tx) => {
      const change = emptyChange()
      const { ops, delta, after } = change
      const statuses: AcceptStatus[] = []
      const claimed = new Set<string>()
      for (let i = 0; i < items.length; i++) {
        const item = items[i]
        const pk = pks[i]
        // an outbound copy and a local fragment/delivery of the same part may come together
        // (a broadcast); dedup is against earlier changes only (a read only when nothing in
        // memory can tell: the group's prefetch normally did it)
        if (!claimed.has(pk) && (this.#seenNow(tx, pk) ?? await this.#isSeen(tx, pk))) {
          statuses.push('duplicate')
          continue
        }
        claimed.add(pk)
        if (item.type === 'outbound') {
          const m = item.meta
          const value = encodeRecord(m, item.bytes)
          const c = charge(value)
          ops.push({ type: 'put', sublevel: this.#bundles, key: pk, value })
          after.push(() => { this.#index.addOutbound(pk, heldPart(m, c)) })
          delta.bytes += c
          delta.entries++
        } else if (item.type === 'fragment') {
          const value = encodeRecord(item.meta, item.payload)
          const c = charge(value)
          const fk = fragmentKey(pk, item.meta.length)
          const expiresAt = item.meta.expiresAt
          ops.push({ type: 'put', sublevel: this.#fragments, key: fk, value })
          after.push(() => { this.#index.addHeld('f', fk, { expiresAt, charge: c, pk }) })
          delta.bytes += c
          delta.entries++
        } else {
          const ak = aduKey(item.meta.id)
          const value = encodeRecord(item.meta, item.payload)
          const c = charge(value)
          const expiresAt = item.meta.expiresAt
          const wholePk = partKey(item.meta.id, 0)
          ops.push({ type: 'put', sublevel: this.#inbox, key: ak, value })
          after.push(() => { this.#index.addHeld('i', ak, { expiresAt, charge: c, pk: wholePk }) })
          delta.bytes += c
          delta.entries++
          // the fragments it was made of leave in the same batch, each leaving its seen id, as
          // does the fragment that completed it
          if (item.offset != null) {
            for await (const key of this.#fragments.keys(under(ak))) { this.#deleteHeld(tx, change, 'f', key, expiresAt) }
            this.#putSeen(tx, change, pk, expiresAt)
          }
        }
        statuses.push('accepted')
      }
      // [REFUSE] over quota: nothing of this change is written, nothing held is evicted
      if (delta.bytes > 0 && tx.usage.bytes + delta.bytes > this.quotaBytes) {
        throw new BundleStoreError('QUOTA_EXCEEDED', `store holds ${tx.usage.bytes} of ${this.quotaBytes} bytes; ${delta.bytes} more do not fit`)
      }
      for (const pk of claimed) { tx.written.add(pk) }
      if (state != null) { ops.push({ type: 'put', sublevel: this.#state, key: state.key, value: state.value }) }
      return { change, result: statuses }
    }, pks)
  }

  /** True when the part (bundle or fragment at `offset`) was accepted before and has not expired. */
  async hasSeen (id: BundleId, offset = 0): Promise<boolean> {
    const pk = partKey(id, offset)
    return this.#index.holds(pk) || (await this.#seen.get(pk)) != null
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
      const value = encodeRecord(next, data)
      const c = charge(value)
      return {
        change: {
          ops: [{ type: 'put', sublevel: this.#bundles, key: pk, value }],
          delta: { bytes: c - charge(v), entries: 0 },
          after: [() => {
            const part = this.#index.outbound.get(pk)
            if (part == null) { return }
            part.charge = c
            this.#index.reschedule(pk, { copies: next.copies, attempts: next.attempts, nextAttemptAt: next.nextAttemptAt })
          }]
        },
        result: next
      }
    })
  }

  /**
   * Lets go of an outbound bundle once custody has passed (the next hop acknowledged its durable
   * write). The seen entry stays until expiry, so the bundle is not taken back. Idempotent.
   */
  async release (id: BundleId, offset = 0): Promise<boolean> {
    return this.#run(async (tx) => {
      const change = emptyChange()
      this.#removeOutbound(tx, change, partKey(id, offset), true)
      return { change, result: change.ops.length > 0 }
    })
  }

  /**
   * Deletes an outbound record once per group, crediting its size back (no read: the index has
   * it); with `keepSeen`, its seen id takes over in the same batch.
   */
  #removeOutbound (tx: Tx, change: Change, pk: string, keepSeen: boolean): void {
    const part = this.#index.outbound.get(pk)
    if (part == null || tx.gone(`b:${pk}`)) { return }
    tx.deleted.add(`b:${pk}`)
    change.ops.push({ type: 'del', sublevel: this.#bundles, key: pk })
    if (keepSeen) { this.#putSeen(tx, change, pk, part.expiresAt) }
    change.delta.bytes -= part.charge
    change.delta.entries--
    change.after.push(() => { this.#index.removeOutbound(pk) })
  }

  /** Deletes a fragment or inbox entry once per group, crediting its size back; with `seenUntil`, its seen id takes over. */
  #deleteHeld (tx: Tx, change: Change, kind: 'f' | 'i', key: string, seenUntil?: number): void {
    const held = this.#index.held.get(`${kind}:${key}`)
    if (held == null || tx.gone(`${kind}:${key}`)) { return }
    tx.deleted.add(`${kind}:${key}`)
    change.ops.push({ type: 'del', sublevel: kind === 'f' ? this.#fragments : this.#inbox, key })
    if (seenUntil != null) { this.#putSeen(tx, change, held.pk, seenUntil) }
    change.delta.bytes -= held.charge
    change.delta.entries--
    change.after.push(() => { this.#index.removeHeld(kind, key) })
  }

  #putSeen (tx: Tx, change: Change, pk: string, expiresAt: number): void {
    if (tx.wrote(`s:${pk}`)) { return }
    tx.written.add(`s:${pk}`)
    tx.written.add(pk)
    change.ops.push({ type: 'put', sublevel: this.#seen, key: pk, value: expiresAt })
  }

  #deleteSeen (tx: Tx, change: Change, pk: string): void {
    if (tx.gone(`s:${pk}`)) { return }
    tx.deleted.add(`s:${pk}`)
    change.ops.push({ type: 'del', sublevel: this.#seen, key: pk })
  }

  /** Removes a delivered bundle from the inbox (the application took it). Its seen entries stay until expiry. */
  async removeDelivered (id: BundleId): Promise<boolean> {
    return this.#run(async (tx) => {
      const change = emptyChange()
      const held = this.#index.held.get(`i:${aduKey(id)}`)
      this.#deleteHeld(tx, change, 'i', aduKey(id), held?.expiresAt)
      return { change, result: change.ops.length > 0 }
    })
  }

  /**
   * Removes what expired at `now`: held bundles, fragments awaiting reassembly and inbox entries
   * (with the seen ids of bundles and fragments), then a page of expired seen ids. Processes at
   * most `limit` entries and returns how many; call again while it returns `limit`.
   */
  async sweep (now: number, limit = 1024): Promise<number> {
    return this.#run(async (tx) => {
      const change = emptyChange()
      let n = 0
      for (const { kind, key } of this.#index.expired(now, limit)) {
        n++
        // expired: the record goes, and no seen id replaces it (an expired bundle is refused anyway)
        if (kind === 'b') {
          this.#removeOutbound(tx, change, key, false)
          this.#deleteSeen(tx, change, key)
        } else {
          const pk = this.#index.held.get(`${kind}:${key}`)?.pk
          this.#deleteHeld(tx, change, kind, key)
          if (pk != null) { this.#deleteSeen(tx, change, pk) }
        }
      }
      if (n < limit) { n += await this.#sweepSeen(tx, change, now, limit - n) }
      return { change, result: n }
    })
  }

  /** One page of `dtn-seen` from the cursor: drops expired ids (not those of records still held). */
  async #sweepSeen (tx: Tx, change: Change, now: number, limit: number): Promise<number> {
    let n = 0
    let scanned = 0
    let last = ''
    for await (const [pk, expiresAt] of this.#seen.iterator({ gt: this.#seenCursor, limit: SEEN_SCAN_PAGE })) {
      scanned++
      last = pk
      if (expiresAt > now || tx.gone(`s:${pk}`) || this.#index.holds(pk)) { continue }
      this.#deleteSeen(tx, change, pk)
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
      const change = emptyChange()
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
        this.#removeOutbound(tx, change, key, true)
        n++
      }
      for (const [kind, sub] of [['f', this.#fragments], ['i', this.#inbox]] as const) {
        for await (const [key, v] of sub.iterator(range)) {
          const meta = decodeRecord<{ signer: PeerIdentity, expiresAt: number }>(v).meta
          if (!test(meta.signer)) { continue }
          this.#deleteHeld(tx, change, kind, key, meta.expiresAt)
          n++
        }
      }
      return { change, result: n }
    })
  }

  /** Reads a small state value (the agent keeps its last bundle id here). */
  async getState<T>(key: string): Promise<T | undefined> {
    return await this.#state.get(key) as T | undefined
  }

  /** Writes a small state value durably, in the write queue. */
  async putState (key: string, value: unknown): Promise<void> {
    await this.#run(async () => ({ change: { ops: [{ type: 'put', sublevel: this.#state, key, value }], delta: { bytes: 0, entries: 0 }, after: [] }, result: undefined }))
  }

  /** Waits for queued writes, then refuses new ones. The MeshStore itself is closed by its owner. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#commits.idle()
  }
}

function heldPart (m: OutboundMeta, c: number): HeldPart {
  return { nextAttemptAt: m.nextAttemptAt, attempts: m.attempts, expiresAt: m.expiresAt, dest: destKey(m.destination, m.broadcast), copies: m.copies, charge: c }
}

/** The ADU key of a part key, re-exported for the agent's locks. */
export { aduKey, aduOfPart, partKey }
