import { aduKey, aduOfPart, destKey, fragmentKey, hexNum, hexText, partKey, under } from './bundle-keys.ts'
import { BundleStoreError, charge, decodeRecord, encodeRecord } from './bundle-records.ts'
import { SYNC } from './mesh-store.ts'
import type { AcceptItem, AcceptStatus, BundleStoreOptions, DeliveredMeta, FragmentMeta, OutboundMeta, Usage } from './bundle-records.ts'
import type { MeshStore, Sublevel } from './mesh-store.ts'
import type { BundleId } from '../dtn/bundle-id.ts'
import type { PeerIdentity } from '../node/peer-verifier.ts'

export { BundleStoreError, ENTRY_OVERHEAD_BYTES } from './bundle-records.ts'
export type { AcceptItem, AcceptStatus, BundleStoreErrorCode, BundleStoreOptions, DeliveredMeta, FragmentMeta, OutboundMeta, Usage } from './bundle-records.ts'

/**
 * The DTN bundle store: one LevelDB per node (the MeshStore), these sublevels:
 *
 * - `dtn-bundles`: part key -> record (OutboundMeta, bundle bytes), held for forwarding
 * - `dtn-outbound`: `<next attempt>.<part key>`, the retry schedule
 * - `dtn-by-dest`: `<hex destination | *>.<part key>`, for "peer X is here"
 * - `dtn-expiry`: `<expires at>.<part or ADU key>` -> what to remove, for sweeping
 * - `dtn-seen`: part key -> expires at, for deduplication
 * - `dtn-fragments`: `<part key>.<length>` -> record (FragmentMeta, payload slice), awaiting
 * reassembly; the length in the key lets reassembly check ranges from keys alone
 * - `dtn-inbox`: ADU key -> record (DeliveredMeta, payload), delivered to this node
 * - `dtn-state`: usage and the last bundle id, for the quota and the sequence
 *
 * Every change is one atomic `sync` batch. Concurrent changes are group-committed: callers queue,
 * one batch at a time goes to disk holding everything queued meanwhile (each change still decided
 * one by one, in order), so durability costs one fsync per group, not per bundle.
 *
 * Quota (issue 7): a change that would take the stored bytes over the quota is refused with
 * BundleStoreError QUOTA_EXCEEDED and writes nothing. Nothing accepted is ever evicted to make
 * room: bundles leave only by custody transfer (ACK), delivery, expiry, or a revoked source.
 */

type Op = { type: 'put', sublevel: Sublevel<any>, key: string, value: unknown } | { type: 'del', sublevel: Sublevel<any>, key: string }

interface Change {
  ops: Op[]
  delta: Usage
}

interface Job<T> {
  /** Seen keys the job will ask about: fetched for the whole group in one read. */
  seenKeys?: string[]
  /** Decides the change against the state as of every job before it; may throw to refuse. */
  prepare(tx: Tx): Promise<{ change: Change, result: T }>
  resolve(v: T): void
  reject(e: unknown): void
}

/**
 * What a job sees of the group being built: parts accepted earlier in it, values deleted earlier
 * in it (so two jobs never both charge the same removal), and the usage so far. Jobs read the
 * database as of the last committed group; callers (the agent) never queue two changes to one
 * bundle at once, so these sets are enough.
 */
interface Tx {
  written: Set<string>
  deleted: Set<string>
  usage: Usage
  /** Seen state of the group's declared keys, read once (one getMany) before any job runs. */
  seen: Map<string, boolean>
}

const OUTBOUND_TAG = 'b'
const FRAGMENT_TAG = 'f'
const INBOX_TAG = 'i'

export class BundleStore {
  readonly quotaBytes: number
  readonly #store: MeshStore
  readonly #bundles: Sublevel<Uint8Array>
  readonly #outbound: Sublevel<string>
  readonly #byDest: Sublevel<string>
  readonly #expiry: Sublevel<string[]>
  readonly #seen: Sublevel<number>
  readonly #fragments: Sublevel<Uint8Array>
  readonly #inbox: Sublevel<Uint8Array>
  readonly #state: Sublevel<any>
  #usage: Usage = { bytes: 0, entries: 0 }
  #queue: Array<Job<any>> = []
  #flushing: Promise<void> | null = null
  #closed = false

  private constructor (store: MeshStore, options: BundleStoreOptions) {
    if (!Number.isSafeInteger(options.quotaBytes) || options.quotaBytes < 0) { throw new RangeError('quotaBytes must be a non-negative integer') }
    this.quotaBytes = options.quotaBytes
    this.#store = store
    this.#bundles = store.sublevel('dtn-bundles')
    this.#outbound = store.sublevel('dtn-outbound')
    this.#byDest = store.sublevel('dtn-by-dest')
    this.#expiry = store.sublevel('dtn-expiry')
    this.#seen = store.sublevel('dtn-seen')
    this.#fragments = store.sublevel('dtn-fragments')
    this.#inbox = store.sublevel('dtn-inbox')
    this.#state = store.sublevel('dtn-state')
  }

  /** Opens the bundle sublevels of `store` and loads the usage counter. */
  static async open (store: MeshStore, options: BundleStoreOptions): Promise<BundleStore> {
    const s = new BundleStore(store, options)
    const usage = await s.#state.get('usage')
    if (usage != null) { s.#usage = { bytes: usage.bytes, entries: usage.entries } }
    return s
  }

  /** Bytes and entries held now, as charged against the quota. */
  get usage (): Usage {
    return { ...this.#usage }
  }

  /** Runs `prepare` in the write queue and commits its change in the next group batch. */
  async #run<T>(prepare: Job<T>['prepare'], seenKeys?: string[]): Promise<T> {
    if (this.#closed) { throw new BundleStoreError('CLOSED', 'bundle store is closed') }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ prepare, resolve, reject, seenKeys })
      if (this.#flushing == null) { this.#flushing = this.#flush() }
    })
  }

  async #flush (): Promise<void> {
    // let every caller of this tick queue first: a burst of accepts becomes one group, not 1 + rest
    await Promise.resolve()
    // one group per loop: every job queued while the previous batch was on its way to disk
    while (this.#queue.length > 0) {
      const jobs = this.#queue
      this.#queue = []
      const tx: Tx = { written: new Set(), deleted: new Set(), usage: { ...this.#usage }, seen: new Map() }
      const wanted = [...new Set(jobs.flatMap(j => j.seenKeys ?? []))]
      if (wanted.length > 0) {
        try {
          const found = await this.#seen.getMany(wanted)
          wanted.forEach((k, i) => tx.seen.set(k, found[i] != null))
        } catch {
          // each job falls back to its own reads
        }
      }
      const ops: Op[] = []
      const done: Array<{ job: Job<any>, result: unknown }> = []
      for (const job of jobs) {
        try {
          const { change, result } = await job.prepare(tx)
          ops.push(...change.ops)
          tx.usage.bytes += change.delta.bytes
          tx.usage.entries += change.delta.entries
          done.push({ job, result })
        } catch (err) {
          job.reject(err)
        }
      }
      if (ops.length === 0) {
        for (const d of done) { d.job.resolve(d.result) }
        continue
      }
      ops.push({ type: 'put', sublevel: this.#state, key: 'usage', value: tx.usage })
      try {
        await this.#store.db.batch(ops as any, SYNC)
        this.#usage = tx.usage
        for (const d of done) { d.job.resolve(d.result) }
      } catch (err) {
        for (const d of done) { d.job.reject(err) }
      }
    }
    this.#flushing = null
  }

  async #isSeen (tx: Tx, key: string): Promise<boolean> {
    if (tx.written.has(key)) { return true }
    return tx.seen.get(key) ?? (await this.#seen.get(key)) != null
  }

  /**
   * Keeps `items` atomically and durably (one `sync` batch with everything else queued), or
   * nothing. An item whose part was seen before is skipped and reported `duplicate`; the call
   * fails with QUOTA_EXCEEDED, writing nothing, if the new items would not fit.
   */
  async accept (items: AcceptItem[], state?: { key: string, value: unknown }): Promise<AcceptStatus[]> {
    return this.#run(async (tx) => {
      const ops: Op[] = []
      const delta: Usage = { bytes: 0, entries: 0 }
      const statuses: AcceptStatus[] = []
      const cleanup = new Map<string, { expiresAt: number, tags: Set<string> }>()
      const expire = (key: string, expiresAt: number, tag: string): void => {
        const e = cleanup.get(key) ?? { expiresAt, tags: new Set<string>() }
        e.tags.add(tag)
        cleanup.set(key, e)
      }
      const claimed = new Set<string>()
      for (const item of items) {
        const offset = item.type === 'delivered' ? (item.offset ?? 0) : item.meta.offset
        const pk = partKey(item.meta.id, offset)
        // an outbound copy and a local fragment/delivery of the same part may come together
        // (a broadcast); dedup is against earlier changes only
        if (!claimed.has(pk) && await this.#isSeen(tx, pk)) {
          statuses.push('duplicate')
          continue
        }
        claimed.add(pk)
        ops.push({ type: 'put', sublevel: this.#seen, key: pk, value: item.meta.expiresAt })
        expire(pk, item.meta.expiresAt, 's')
        if (item.type === 'outbound') {
          const m = item.meta
          const value = encodeRecord(m, item.bytes)
          ops.push({ type: 'put', sublevel: this.#bundles, key: pk, value })
          ops.push({ type: 'put', sublevel: this.#outbound, key: `${hexNum(m.nextAttemptAt)}.${pk}`, value: '' })
          ops.push({ type: 'put', sublevel: this.#byDest, key: `${destKey(m.destination, m.broadcast)}.${pk}`, value: '' })
          expire(pk, m.expiresAt, OUTBOUND_TAG)
          delta.bytes += charge(value)
          delta.entries++
        } else if (item.type === 'fragment') {
          const value = encodeRecord(item.meta, item.payload)
          const fk = fragmentKey(pk, item.meta.length)
          ops.push({ type: 'put', sublevel: this.#fragments, key: fk, value })
          expire(fk, item.meta.expiresAt, FRAGMENT_TAG)
          delta.bytes += charge(value)
          delta.entries++
        } else {
          const ak = aduKey(item.meta.id)
          const value = encodeRecord(item.meta, item.payload)
          ops.push({ type: 'put', sublevel: this.#inbox, key: ak, value })
          expire(ak, item.meta.expiresAt, INBOX_TAG)
          delta.bytes += charge(value)
          delta.entries++
          // the fragments it was made of leave in the same batch
          if (item.offset != null) {
            for await (const [key, v] of this.#fragments.iterator(under(ak))) {
              this.#delete(tx, ops, delta, this.#fragments, key, v)
            }
          }
        }
        statuses.push('accepted')
      }
      for (const [key, e] of cleanup) {
        ops.push({ type: 'put', sublevel: this.#expiry, key: `${hexNum(e.expiresAt)}.${key}`, value: [...e.tags] })
      }
      // [REFUSE] over quota: nothing of this change is written, nothing held is evicted
      if (delta.bytes > 0 && tx.usage.bytes + delta.bytes > this.quotaBytes) {
        throw new BundleStoreError('QUOTA_EXCEEDED', `store holds ${tx.usage.bytes} of ${this.quotaBytes} bytes; ${delta.bytes} more do not fit`)
      }
      for (const pk of claimed) { tx.written.add(pk) }
      if (state != null) { ops.push({ type: 'put', sublevel: this.#state, key: state.key, value: state.value }) }
      return { change: { ops, delta }, result: statuses }
    }, items.map(item => partKey(item.meta.id, item.type === 'delivered' ? (item.offset ?? 0) : item.meta.offset)))
  }

  /** True when the part (bundle or fragment at `offset`) was accepted before and has not expired. */
  async hasSeen (id: BundleId, offset = 0): Promise<boolean> {
    return (await this.#seen.get(partKey(id, offset))) != null
  }

  /** A bundle held for forwarding. */
  async getOutbound (id: BundleId, offset = 0): Promise<{ meta: OutboundMeta, bytes: Uint8Array } | undefined> {
    const v = await this.#bundles.get(partKey(id, offset))
    if (v == null) { return undefined }
    const r = decodeRecord<OutboundMeta>(v)
    return { meta: r.meta, bytes: r.data }
  }

  /** Outbound bundles whose next attempt is due at `now`, earliest first (at most `limit`). */
  async dueOutbound (now: number, limit = 256): Promise<OutboundMeta[]> {
    return this.#metasFromIndex(this.#outbound, { lt: hexNum(now + 1), limit })
  }

  /** Time of the earliest scheduled attempt, if any (for the retry timer). */
  async nextAttemptTime (): Promise<number | undefined> {
    const [key] = await this.#outbound.keys({ limit: 1 }).all()
    return key == null ? undefined : parseInt(key.slice(0, 16), 16)
  }

  /** Outbound bundles addressed to `destination` (a node_id, or broadcast). */
  async outboundFor (destination: string, broadcast: boolean, limit = 256): Promise<OutboundMeta[]> {
    return this.#metasFromIndex(this.#byDest, { ...under(destKey(destination, broadcast)), limit })
  }

  /** Every outbound bundle (for listings and for spraying to a new relay), in key order. */
  async listOutbound (limit = 256): Promise<OutboundMeta[]> {
    const out: OutboundMeta[] = []
    for await (const v of this.#bundles.values({ limit })) { out.push(decodeRecord<OutboundMeta>(v).meta) }
    return out
  }

  async #metasFromIndex (index: Sublevel<string>, range: Record<string, unknown>): Promise<OutboundMeta[]> {
    const keys: string[] = []
    for await (const k of index.keys(range)) { keys.push(k.slice(k.indexOf('.') + 1)) }
    const values = await this.#bundles.getMany(keys)
    return values.filter((v): v is Uint8Array => v != null).map(v => decodeRecord<OutboundMeta>(v).meta)
  }

  /**
   * Byte ranges of the fragments held for the ADU `id`, in offset order, and the metadata of one
   * of them (they agree on total length and digest: each was checked against the others). Reads
   * keys and one value only, so admitting the n-th fragment costs no payload reads.
   */
  async fragmentRanges (id: BundleId): Promise<{ ranges: Array<{ offset: number, length: number }>, sample?: FragmentMeta }> {
    const ranges: Array<{ offset: number, length: number }> = []
    let first: string | undefined
    for await (const key of this.#fragments.keys(under(aduKey(id)))) {
      const parts = key.split('.')
      ranges.push({ offset: parseInt(parts[3], 16), length: parseInt(parts[4], 16) })
      first ??= key
    }
    if (first == null) { return { ranges } }
    const v = await this.#fragments.get(first)
    return v == null ? { ranges } : { ranges, sample: decodeRecord<FragmentMeta>(v).meta }
  }

  /** Fragments held for the ADU `id`, payloads included, in offset order. */
  async fragmentsOf (id: BundleId): Promise<Array<{ meta: FragmentMeta, payload: Uint8Array }>> {
    const out: Array<{ meta: FragmentMeta, payload: Uint8Array }> = []
    for await (const v of this.#fragments.values(under(aduKey(id)))) {
      const r = decodeRecord<FragmentMeta>(v)
      out.push({ meta: r.meta, payload: r.data })
    }
    return out
  }

  /** Bundles delivered to this node and not expired at `now`. */
  async listInbox (now: number, limit = 256): Promise<Array<{ meta: DeliveredMeta, payload: Uint8Array }>> {
    const out: Array<{ meta: DeliveredMeta, payload: Uint8Array }> = []
    for await (const v of this.#inbox.values({ limit })) {
      const r = decodeRecord<DeliveredMeta>(v)
      // [IGNORE] expired but not yet swept: never handed out
      if (r.meta.expiresAt > now) { out.push({ meta: r.meta, payload: r.data }) }
    }
    return out
  }

  /** One delivered bundle, unless expired at `now`. */
  async getDelivered (id: BundleId, now: number): Promise<{ meta: DeliveredMeta, payload: Uint8Array } | undefined> {
    const v = await this.#inbox.get(aduKey(id))
    if (v == null) { return undefined }
    const r = decodeRecord<DeliveredMeta>(v)
    return r.meta.expiresAt > now ? { meta: r.meta, payload: r.data } : undefined
  }

  /** Updates an outbound bundle's schedule and bookkeeping (after an attempt, a spray, an ACK). */
  async updateOutbound (id: BundleId, offset: number, patch: Partial<Pick<OutboundMeta, 'copies' | 'attempts' | 'nextAttemptAt' | 'sentTo'>>): Promise<OutboundMeta> {
    return this.#run(async () => {
      const pk = partKey(id, offset)
      const v = await this.#bundles.get(pk)
      if (v == null) { throw new BundleStoreError('NOT_FOUND', 'no such outbound bundle') }
      const { meta, data } = decodeRecord<OutboundMeta>(v)
      const next: OutboundMeta = { ...meta, ...patch }
      const value = encodeRecord(next, data)
      const ops: Op[] = [{ type: 'put', sublevel: this.#bundles, key: pk, value }]
      if (next.nextAttemptAt !== meta.nextAttemptAt) {
        ops.push({ type: 'del', sublevel: this.#outbound, key: `${hexNum(meta.nextAttemptAt)}.${pk}` })
        ops.push({ type: 'put', sublevel: this.#outbound, key: `${hexNum(next.nextAttemptAt)}.${pk}`, value: '' })
      }
      return { change: { ops, delta: { bytes: charge(value) - charge(v), entries: 0 } }, result: next }
    })
  }

  /**
   * Lets go of an outbound bundle once custody has passed (the next hop acknowledged its durable
   * write). The seen entry stays until expiry, so the bundle is not taken back. Idempotent.
   */
  async release (id: BundleId, offset = 0): Promise<boolean> {
    return this.#run(async (tx) => {
      const pk = partKey(id, offset)
      const change = await this.#removeOutbound(tx, pk)
      return { change, result: change.ops.length > 0 }
    })
  }

  async #removeOutbound (tx: Tx, pk: string): Promise<Change> {
    const ops: Op[] = []
    const delta: Usage = { bytes: 0, entries: 0 }
    const v = tx.deleted.has(`b:${pk}`) ? undefined : await this.#bundles.get(pk)
    if (v == null) { return { ops, delta } }
    const m = decodeRecord<OutboundMeta>(v).meta
    this.#delete(tx, ops, delta, this.#bundles, pk, v)
    ops.push({ type: 'del', sublevel: this.#outbound, key: `${hexNum(m.nextAttemptAt)}.${pk}` })
    ops.push({ type: 'del', sublevel: this.#byDest, key: `${destKey(m.destination, m.broadcast)}.${pk}` })
    return { ops, delta }
  }

  /** Deletes a charged value once per group, crediting its size back. */
  #delete (tx: Tx, ops: Op[], delta: Usage, sub: Sublevel<Uint8Array>, key: string, value: Uint8Array): void {
    const tag = `${sub === this.#bundles ? 'b' : sub === this.#fragments ? 'f' : 'i'}:${key}`
    if (tx.deleted.has(tag)) { return }
    tx.deleted.add(tag)
    ops.push({ type: 'del', sublevel: sub, key })
    delta.bytes -= charge(value)
    delta.entries--
  }

  /** Removes a delivered bundle from the inbox (the application took it). Its seen entries stay until expiry. */
  async removeDelivered (id: BundleId): Promise<boolean> {
    return this.#run(async (tx) => {
      const ops: Op[] = []
      const delta: Usage = { bytes: 0, entries: 0 }
      const ak = aduKey(id)
      const v = await this.#inbox.get(ak)
      if (v != null) { this.#delete(tx, ops, delta, this.#inbox, ak, v) }
      return { change: { ops, delta }, result: ops.length > 0 }
    })
  }

  /**
   * Removes everything that expired at `now` (at most `limit` expiry entries per call): held
   * bundles, fragments awaiting reassembly, inbox entries and their seen ids. Returns how many
   * expiry entries it processed; call again while it returns `limit`.
   */
  async sweep (now: number, limit = 1024): Promise<number> {
    return this.#run(async (tx) => {
      const ops: Op[] = []
      const delta: Usage = { bytes: 0, entries: 0 }
      let n = 0
      for await (const [key, tags] of this.#expiry.iterator({ lt: hexNum(now + 1), limit })) {
        n++
        const target = key.slice(17)
        ops.push({ type: 'del', sublevel: this.#expiry, key })
        if (tags.includes('s')) { ops.push({ type: 'del', sublevel: this.#seen, key: target }) }
        if (tags.includes(OUTBOUND_TAG)) { this.#merge(ops, delta, await this.#removeOutbound(tx, target)) }
        for (const [tag, sub] of [[FRAGMENT_TAG, this.#fragments], [INBOX_TAG, this.#inbox]] as const) {
          if (!tags.includes(tag)) { continue }
          const v = await sub.get(target)
          if (v != null) { this.#delete(tx, ops, delta, sub, target, v) }
        }
      }
      return { change: { ops, delta }, result: n }
    })
  }

  #merge (ops: Op[], delta: Usage, c: Change): void {
    ops.push(...c.ops)
    delta.bytes += c.delta.bytes
    delta.entries += c.delta.entries
  }

  /**
   * Purges every bundle, fragment and inbox entry whose source is `source` (a revoked node).
   * Seen ids stay, so the purged bundles are not accepted again before they expire.
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
      const ops: Op[] = []
      const delta: Usage = { bytes: 0, entries: 0 }
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
        this.#merge(ops, delta, await this.#removeOutbound(tx, key))
        n++
      }
      for (const sub of [this.#fragments, this.#inbox]) {
        for await (const [key, v] of sub.iterator(range)) {
          if (!test(decodeRecord<{ signer: PeerIdentity }>(v).meta.signer)) { continue }
          this.#delete(tx, ops, delta, sub, key, v)
          n++
        }
      }
      return { change: { ops, delta }, result: n }
    })
  }

  /** Reads a small state value (the agent keeps its last bundle id here). */
  async getState<T>(key: string): Promise<T | undefined> {
    return await this.#state.get(key) as T | undefined
  }

  /** Writes a small state value durably, in the write queue. */
  async putState (key: string, value: unknown): Promise<void> {
    await this.#run(async () => ({ change: { ops: [{ type: 'put', sublevel: this.#state, key, value }], delta: { bytes: 0, entries: 0 } }, result: undefined }))
  }

  /** Waits for queued writes, then refuses new ones. The MeshStore itself is closed by its owner. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#flushing
  }
}

/** The ADU key of a part key, re-exported for the agent's locks. */
export { aduKey, aduOfPart, partKey }
