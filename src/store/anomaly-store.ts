import { TypedEventEmitter } from '@libp2p/interface'
import type { MeshStore, Sublevel } from './mesh-store.ts'

/**
 * Accepted anomaly signatures, for the embedding agent: the `anomaly-signatures` sublevel keyed by
 * message_id, and the `anomaly-expiry` index keyed by `<expiry, 15 digits>!<message_id>` (value:
 * the content digest) for sweeping and for rebuilding the in-memory seen index at open.
 *
 * The seen index (message_id -> digest, expiry) lives in memory so the gossip validator can ask
 * it synchronously; `put` updates it before it writes, so a second copy validated while the
 * first is being written is still recognised. It also holds what makes a second version of an id
 * recognisable as a conflict (the first version's digest). It is bounded per origin by
 * `maxEntriesPerOrigin` and in all by `maxEntries`: beyond either, the oldest entry (of that
 * origin, or of all; by arrival, or by expiry after a restart) is dropped with its record, which
 * reopens a replay or second-version window for that one id until its expiry. The per-origin
 * bound keeps one member that publishes (or equivocates) at volume from evicting the digests of
 * everyone else's messages. The origin of an entry is its message_id's prefix (`<origin>:<suffix>`,
 * node_ids hold no colon). Both bounds are enforced after each batch is written, so they can be
 * exceeded by one event-loop turn's records. The clock is passed in.
 *
 * Writes are not `sync`: a record lost in a crash is a signature the mesh already spread, and at
 * worst its id can be accepted once more; gossip rates need LevelDB's 45k puts/s, not its 10k.
 * For the same reason they are write-behind: `put` records the signature in memory, announces it
 * (`anomaly`) at once, and the records accepted in one turn of the event loop are written in one
 * batch after it (`setImmediate`). So the write is off the gossip path: a validator stores on
 * accept, and gossipsub forwards the message before our batch is built (measured on the 20-node
 * latency bench: the write in the validator's turn cost a third of the p50). `put` resolves once
 * the batch is written; `get` sees a record from the moment it is announced; `list`, `sweep` and
 * `flush` wait for pending writes. A failed batch drops its records from the seen index, as a
 * failed write always did, and rejects their `put`s.
 */

export interface AnomalyPayloadRecord {
  type: string
  value: string
  meta?: Record<string, string | number | boolean>
}

/** One accepted (or locally published) anomaly signature. */
export interface AnomalyRecord {
  message_id: string
  /** The origin's node_id. */
  origin: string
  /** The PeerId the origin's certificate binds. */
  origin_peer_id: string
  timestamp: number
  expiry: number
  payload: AnomalyPayloadRecord
  /** Content digest (protocols/anomaly-gossip `envelopeDigest`): equal digests mean the same message. */
  digest: string
  /** Our clock when we accepted it. */
  received_at: number
  /** `local` for our own publications, `gossip` for accepted ones, `submitted` for pre-signed envelopes handed to us. */
  source: 'local' | 'gossip' | 'submitted'
  /** The peer that relayed it to us (gossip only). */
  relay?: string
  /**
   * The envelope as received, base64: the origin's signature and delegation inside it let the
   * message be verified again later (after a restart, against a newer CRL). Absent in records
   * written before envelopes carried a signature.
   */
  envelope?: string
}

export interface AnomalyStoreEvents {
  /** A new signature was stored (for the embedding agent). */
  anomaly: CustomEvent<AnomalyRecord>
  /** Signatures removed by a sweep or by eviction. */
  expired: CustomEvent<{ messageIds: string[] }>
}

export interface AnomalyStoreOptions {
  /** Signatures kept at most. @default 50000 (about 10 MB of index and 50 MB of records) */
  maxEntries?: number
  /**
   * Signatures kept at most per origin node_id. @default 5000 (a tenth of maxEntries: a member
   * publishing an anomaly signature every second with the 1 h default lifetime holds 3600)
   */
  maxEntriesPerOrigin?: number
}

export interface ListOptions {
  /** @default 100 */
  limit?: number
  origin?: string
  type?: string
  /** When given, signatures expired at this time are left out. */
  now?: number
}

interface SeenEntry {
  digest: string
  expiry: number
}

/** Fixed width keeps the expiry index in time order: 15 digits reach beyond the year 30000. */
const EXPIRY_DIGITS = 15
/** Records fetched per `getMany` while listing. */
const LIST_PAGE = 256
/** Expired entries removed per sweep call, so one sweep never holds the event loop for long. */
const SWEEP_BATCH = 10_000

/** The origin node_id a message_id names (`<origin>:<suffix>`). */
function originOf (messageId: string): string {
  const colon = messageId.indexOf(':')
  return colon < 0 ? messageId : messageId.slice(0, colon)
}

function expiryKey (expiry: number, messageId: string): string {
  return `${String(expiry).padStart(EXPIRY_DIGITS, '0')}!${messageId}`
}

export class AnomalyStore extends TypedEventEmitter<AnomalyStoreEvents> {
  readonly #store: MeshStore
  readonly #records: Sublevel<AnomalyRecord>
  readonly #expiry: Sublevel<string>
  readonly #seen = new Map<string, SeenEntry>()
  readonly #maxEntries: number
  readonly #maxPerOrigin: number
  /** The seen index's ids by origin, oldest first (Set keeps insertion order). */
  readonly #byOrigin = new Map<string, Set<string>>()
  /** Records accepted in this turn, for the next batch (see the class comment), and its write (rejects when that fails). */
  #gathering: { records: Map<string, AnomalyRecord>, written: Promise<void> } | undefined
  /** Batches being written: still readable through `get`. */
  readonly #writing = new Set<Map<string, AnomalyRecord>>()
  /** The newest batch write, after all earlier ones: writes stay in order. Never rejects. */
  #lastWrite: Promise<void> = Promise.resolve()

  private constructor (store: MeshStore, options: AnomalyStoreOptions) {
    super()
    this.#store = store
    this.#records = store.sublevel<AnomalyRecord>('anomaly-signatures')
    this.#expiry = store.sublevel<string>('anomaly-expiry')
    this.#maxEntries = options.maxEntries ?? 50_000
    this.#maxPerOrigin = options.maxEntriesPerOrigin ?? 5_000
  }

  /** Opens the store over `store`'s sublevels and rebuilds the seen index (soonest expiry first). */
  static async open (store: MeshStore, options: AnomalyStoreOptions = {}): Promise<AnomalyStore> {
    const s = new AnomalyStore(store, options)
    for await (const [key, digest] of s.#expiry.iterator()) {
      const bang = key.indexOf('!')
      const id = key.slice(bang + 1)
      s.#seen.set(id, { digest, expiry: Number(key.slice(0, bang)) })
      s.#track(id)
    }
    await s.#evict()
    return s
  }

  /** Signatures held. */
  get size (): number {
    return this.#seen.size
  }

  /** What the gossip validator asks: the digest of an accepted message_id, if still held. Synchronous. */
  seen (messageId: string): { digest: string, expiry: number } | undefined {
    return this.#seen.get(messageId)
  }

  /**
   * Stores a signature and emits `anomaly`; resolves false (and stores nothing) when its
   * message_id is already held. The seen index is updated before the write.
   */
  async put (record: AnomalyRecord): Promise<boolean> {
    if (this.#seen.has(record.message_id)) { return false }
    this.#seen.set(record.message_id, { digest: record.digest, expiry: record.expiry })
    this.#track(record.message_id)
    const written = this.#enqueue(record)
    this.safeDispatchEvent('anomaly', { detail: record })
    await written
    return true
  }

  async get (messageId: string): Promise<AnomalyRecord | undefined> {
    if (!this.#seen.has(messageId)) { return undefined }
    const pending = this.#gathering?.records.get(messageId)
    if (pending != null) { return pending }
    for (const batch of this.#writing) {
      const r = batch.get(messageId)
      if (r != null) { return r }
    }
    return this.#records.get(messageId)
  }

  /** Resolves once every record accepted so far is written (or its write failed). */
  async flush (): Promise<void> {
    await this.#lastWrite
  }

  /** Adds a record to this turn's batch, opening the batch (and its write after the turn) if needed. */
  #enqueue (record: AnomalyRecord): Promise<void> {
    if (this.#gathering == null) {
      const records = new Map<string, AnomalyRecord>()
      const previous = this.#lastWrite
      const written = new Promise<void>(resolve => { setImmediate(resolve) }).then(async () => {
        this.#gathering = undefined
        this.#writing.add(records)
        try {
          await previous
          await this.#write(records)
        } finally {
          this.#writing.delete(records)
        }
      })
      this.#gathering = { records, written }
      this.#lastWrite = written.catch(() => {})
    }
    this.#gathering.records.set(record.message_id, record)
    return this.#gathering.written
  }

  async #write (batch: Map<string, AnomalyRecord>): Promise<void> {
    const records = [...batch.values()]
    try {
      await this.#store.db.batch(records.flatMap(r => [
        { type: 'put', sublevel: this.#records, key: r.message_id, value: r },
        { type: 'put', sublevel: this.#expiry, key: expiryKey(r.expiry, r.message_id), value: r.digest }
      ]) as any)
    } catch (err) {
      for (const r of records) { this.#forget(r.message_id) }
      throw err
    }
    await this.#evict(new Set(records.map(r => originOf(r.message_id))))
  }

  #track (messageId: string): void {
    const origin = originOf(messageId)
    let ids = this.#byOrigin.get(origin)
    if (ids == null) {
      ids = new Set()
      this.#byOrigin.set(origin, ids)
    }
    ids.add(messageId)
  }

  #forget (messageId: string): void {
    this.#seen.delete(messageId)
    const origin = originOf(messageId)
    const ids = this.#byOrigin.get(origin)
    if (ids == null) { return }
    ids.delete(messageId)
    if (ids.size === 0) { this.#byOrigin.delete(origin) }
  }

  /** Signatures, latest expiry first, filtered; at most `limit`. */
  async list (options: ListOptions = {}): Promise<AnomalyRecord[]> {
    const limit = Math.max(0, Math.min(options.limit ?? 100, this.#maxEntries))
    const out: AnomalyRecord[] = []
    if (limit === 0) { return out }
    await this.flush()
    const gte = options.now != null ? String(options.now).padStart(EXPIRY_DIGITS, '0') : undefined
    let page: string[] = []
    const flush = async (): Promise<void> => {
      const recs = await this.#records.getMany(page)
      page = []
      for (const r of recs) {
        if (r == null || out.length >= limit) { continue }
        if (options.origin != null && r.origin !== options.origin) { continue }
        if (options.type != null && r.payload.type !== options.type) { continue }
        out.push(r)
      }
    }
    // Bounded by the index size (maxEntries), which bounds the expiry sublevel.
    for await (const key of this.#expiry.keys({ reverse: true, ...(gte != null ? { gte } : {}) })) {
      page.push(key.slice(key.indexOf('!') + 1))
      if (page.length >= LIST_PAGE) { await flush() }
      if (out.length >= limit) { break }
    }
    if (page.length > 0 && out.length < limit) { await flush() }
    return out
  }

  /** Removes signatures whose expiry is before `now` (at most SWEEP_BATCH per call); returns how many. */
  async sweep (now: number): Promise<number> {
    await this.flush()
    const lt = String(now).padStart(EXPIRY_DIGITS, '0')
    const keys = await this.#expiry.keys({ lt, limit: SWEEP_BATCH }).all()
    if (keys.length === 0) { return 0 }
    const ids = keys.map(k => k.slice(k.indexOf('!') + 1))
    await this.#remove(keys, ids)
    return ids.length
  }

  /**
   * Drops the oldest entries of each of `origins` (all when absent) above maxEntriesPerOrigin,
   * then the oldest of all above maxEntries.
   */
  async #evict (origins: Iterable<string> = [...this.#byOrigin.keys()]): Promise<void> {
    const chosen = new Set<string>()
    for (const origin of origins) {
      const ids = this.#byOrigin.get(origin)
      if (ids == null) { continue }
      let excess = ids.size - this.#maxPerOrigin
      for (const id of ids) {
        if (excess-- <= 0) { break }
        chosen.add(id)
      }
    }
    let excess = this.#seen.size - chosen.size - this.#maxEntries
    for (const id of this.#seen.keys()) {
      if (excess <= 0) { break }
      if (!chosen.has(id)) {
        chosen.add(id)
        excess--
      }
    }
    if (chosen.size === 0) { return }
    const ids = [...chosen]
    const keys = ids.map(id => expiryKey(this.#seen.get(id)?.expiry ?? 0, id))
    await this.#remove(keys, ids)
  }

  async #remove (expiryKeys: string[], ids: string[]): Promise<void> {
    for (const id of ids) { this.#forget(id) }
    await this.#store.db.batch([
      ...ids.map(key => ({ type: 'del', sublevel: this.#records, key })),
      ...expiryKeys.map(key => ({ type: 'del', sublevel: this.#expiry, key }))
    ] as any)
    this.safeDispatchEvent('expired', { detail: { messageIds: ids } })
  }
}
