import { TimeHeap } from './bundle-index.ts'
import type { Tx } from './group-commit.ts'

/**
 * How the bundle store's quota is split (bundle-store.ts enforces it, this keeps the books):
 *
 * - every record is charged to the SOURCE node_id that signed it and, when it was handed over by
 * a neighbour, to that NEIGHBOUR; each source and each neighbour may hold at most its share of the
 * quota (this node's own bundles are charged to no source share);
 * - records held only to be forwarded (outbound records, this node's own included) may fill the
 * quota except the LOCAL RESERVE, which only bundles addressed to this node (inbox entries and
 * fragments awaiting reassembly) may use; those may use the whole quota;
 * - when a new record does not fit a share, the pool or the quota, forward-only copies (outbound
 * records of other sources) in the way are evicted, the one with the largest remaining lifetime
 * first: those of the share exceeded, or of the whole store for the pool and the quota. A record
 * addressed to this node, or one of this node's own, may evict any of them; a forward-only copy
 * only those that would outlive it, so long-lived copies give way to shorter ones and never the
 * other way round. When nothing may be evicted, the record is refused with the code of the limit
 * (SOURCE_SHARE_EXCEEDED, NEIGHBOUR_SHARE_EXCEEDED, QUOTA_EXCEEDED) and nothing is written.
 *
 * The books are kept in memory and rebuilt from the records at open (each record holds its
 * source, previous hop and expiry), like the store's other indexes: they survive a restart
 * without a key of their own, and an accept that fits costs a few map lookups, no scan. Eviction
 * candidates sit in max-heaps of expiry per account; an evicted or released record leaves a
 * stale entry that is skipped when it surfaces, and a heap is compacted once stale entries
 * outnumber live ones.
 */

/** Fractions of the quota: the reserve in [0, 1), the shares in (0, 1] (1 = no share limit). */
export interface ShareFractions {
  /** Part of the quota only bundles addressed to this node may use (0 = no reserve). */
  localReserve: number
  /** Most of the quota one source node_id's records may take. */
  perSource: number
  /** Most of the quota the records one neighbour handed over may take. */
  perNeighbour: number
}

/** Byte limits derived from the quota and the fractions. */
export interface ShareLimits {
  quota: number
  /** quota - local reserve: what outbound records may take together. */
  forwardPool: number
  perSource: number
  perNeighbour: number
}

export function shareLimits (quota: number, f: ShareFractions): ShareLimits {
  if (typeof f.localReserve !== 'number' || !(f.localReserve >= 0 && f.localReserve < 1)) { throw new RangeError('the local reserve must be a fraction in [0, 1)') }
  for (const [k, v] of [['perSource', f.perSource], ['perNeighbour', f.perNeighbour]] as const) {
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) { throw new RangeError(`share ${k} must be a fraction in (0, 1]`) }
  }
  return {
    quota,
    forwardPool: Math.floor(quota * (1 - f.localReserve)),
    perSource: Math.floor(quota * f.perSource),
    perNeighbour: Math.floor(quota * f.perNeighbour)
  }
}

/** What a record is, for the books. */
export interface ShareEntry {
  /** Source node_id (who signed it). */
  source: string
  /** node_id of the neighbour that handed it over, if any. */
  from?: string
  /** Outbound record (held to forward) rather than inbox entry or fragment. */
  outbound: boolean
  /** This node's own bundle (never charged to a source share, never evicted). */
  own: boolean
  expiresAt: number
  charge: number
  /** The accounts it is charged to (made once per record: every accept reads them several times). */
  readonly accounts: readonly string[]
  /** The eviction heaps it sits in: none unless it is a forward-only copy. */
  readonly heaps: readonly string[]
}

interface Shape { accounts: readonly string[], heaps: readonly string[] }

/**
 * Account and heap lists by source, then previous hop (`''` for none), then kind (0 held, 1
 * forward-only, 2 own outbound): every record of one source through one neighbour shares them, so
 * an accept makes no strings or arrays for them (the store's hot path, bench/dtn.ts).
 */
const shapes = new Map<string, Map<string, Array<Shape | undefined>>>()
/** Bounds the cache: cleared whole when this many sources are in it. */
const SHAPE_CACHE_MAX = 4096

function shapeOf (source: string, from: string | undefined, outbound: boolean, own: boolean): Shape {
  let bySource = shapes.get(source)
  if (bySource == null) {
    if (shapes.size >= SHAPE_CACHE_MAX) { shapes.clear() }
    bySource = new Map()
    shapes.set(source, bySource)
  }
  const hop = from ?? ''
  let kinds = bySource.get(hop)
  if (kinds == null) {
    kinds = [undefined, undefined, undefined]
    bySource.set(hop, kinds)
  }
  const kind = !outbound ? 0 : own ? 2 : 1
  let shape = kinds[kind]
  if (shape == null) {
    const accounts = accountsOf({ source, from, outbound, own })
    // the pool's heap would hold exactly the whole store's: forward-only copies are all outbound
    const heaps = kind === 1 ? [TOTAL, ...accounts.filter(a => a !== POOL)] : []
    shape = { accounts, heaps }
    kinds[kind] = shape
  }
  return shape
}

/** A record's entry, with its (shared) account and heap lists. */
export function shareEntry (e: { source: string, from?: string, outbound: boolean, own: boolean, expiresAt: number, charge: number }): ShareEntry {
  const shape = shapeOf(e.source, e.from, e.outbound, e.own)
  return { source: e.source, ...(e.from == null ? {} : { from: e.from }), outbound: e.outbound, own: e.own, expiresAt: e.expiresAt, charge: e.charge, accounts: shape.accounts, heaps: shape.heaps }
}

/** The limit a record did not fit, as the store's refusal code. */
export type ShareCode = 'QUOTA_EXCEEDED' | 'SOURCE_SHARE_EXCEEDED' | 'NEIGHBOUR_SHARE_EXCEEDED'

const POOL = 'p'
const TOTAL = 't'

/** The account keys a record is charged to (the total is the store's own usage). */
function accountsOf (e: { source: string, from?: string, outbound: boolean, own: boolean }): string[] {
  const out: string[] = []
  if (!e.own) { out.push(`s:${e.source}`) }
  if (e.from != null) { out.push(`n:${e.from}`) }
  if (e.outbound) { out.push(POOL) }
  return out
}

/** A max-heap of expiry (a min-heap of -expiry) over evictable record keys. */
class EvictHeap {
  readonly heap = new TimeHeap()
  live = 0
}

export class ShareBooks {
  readonly limits: ShareLimits
  /** Committed bytes per account. */
  readonly #bytes = new Map<string, number>()
  /**
   * The committed entry of an outbound part, by part key: the store's index holds the entries
   * (one map per record, not two), and the heaps name parts by key.
   */
  readonly #lookup: (pk: string) => ShareEntry | undefined
  /** Evictable records (forward-only copies) per account, and over the whole store (TOTAL). */
  readonly #heaps = new Map<string, EvictHeap>()
  /** Each group's bytes decided but not yet committed, per account (dropped with the group). */
  readonly #pending = new WeakMap<Tx, Map<string, number>>()
  /** What the change being decided pended: (map, account, delta) triples, flat. */
  readonly #journal: unknown[] = []
  #journaling = false
  /** Forward-only copies evicted to make room, since open. */
  evicted = 0

  constructor (limits: ShareLimits, lookup: (pk: string) => ShareEntry | undefined) {
    this.limits = limits
    this.#lookup = lookup
  }

  /** Committed bytes of an account (for tests and listings): `s:<node_id>`, `n:<node_id>` or the pool `p`. */
  bytesOf (account: string): number {
    return this.#bytes.get(account) ?? 0
  }

  /**
   * Adds a committed record (at open, and when a group commits); `pk` is its part key when it is
   * an outbound part (the eviction heaps name it so). The caller replaces no live entry.
   */
  commitAdd (pk: string | undefined, e: ShareEntry): void {
    for (const a of e.accounts) { this.#bytes.set(a, (this.#bytes.get(a) ?? 0) + e.charge) }
    if (pk != null) { for (const a of e.heaps) { this.#push(a, pk, e.expiresAt) } }
  }

  /** Removes a committed record (its heap entries go stale, skipped when they surface). */
  commitRemove (e: ShareEntry): void {
    for (const a of e.accounts) { this.#credit(a, e.charge) }
    for (const a of e.heaps) {
      const h = this.#heaps.get(a)
      if (h != null && --h.live <= 0) { this.#heaps.delete(a) }
    }
  }

  /** A committed record's charge changed (its record was rewritten). */
  commitRecharge (e: ShareEntry, charge: number): void {
    for (const a of e.accounts) { this.#bytes.set(a, (this.#bytes.get(a) ?? 0) + charge - e.charge) }
    e.charge = charge
  }

  #credit (a: string, n: number): void {
    const left = (this.#bytes.get(a) ?? 0) - n
    if (left > 0) { this.#bytes.set(a, left) } else { this.#bytes.delete(a) }
  }

  #push (a: string, key: string, expiresAt: number): void {
    let h = this.#heaps.get(a)
    if (h == null) {
      h = new EvictHeap()
      this.#heaps.set(a, h)
    }
    h.heap.push(-expiresAt, key)
    h.live++
    // stale entries (released, expired, evicted) are dropped once they outnumber the live ones
    if (h.heap.size > 2 * h.live + 64) {
      const kept = new Set<string>()
      h.heap.compact((t, k) => this.#lookup(k)?.expiresAt === -t && !kept.has(k) && kept.add(k) != null)
    }
  }

  /**
   * Charges (`sign` 1) or credits (-1) `entry`'s accounts in group `tx`, decided but not
   * committed; `charge` replaces the entry's own (a rewritten record's difference).
   */
  pend (tx: Tx, entry: ShareEntry, sign: 1 | -1, charge = entry.charge): void {
    let m = this.#pending.get(tx)
    if (m == null) {
      m = new Map()
      this.#pending.set(tx, m)
    }
    for (const a of entry.accounts) {
      m.set(a, (m.get(a) ?? 0) + sign * charge)
      if (this.#journaling) { this.#journal.push(m, a, sign * charge) }
    }
  }

  /** Starts a change that may be refused: `undo` takes back what it pends until `end`. */
  begin (): void {
    this.#journal.length = 0
    this.#journaling = true
  }

  /** The change begun last was decided. */
  end (): void {
    this.#journal.length = 0
    this.#journaling = false
  }

  /** Takes back what the change begun last pended (it was refused: group-tx.ts rolls back the rest). */
  undo (): void {
    const j = this.#journal
    for (let i = j.length - 3; i >= 0; i -= 3) {
      const m = j[i] as Map<string, number>
      m.set(j[i + 1] as string, (m.get(j[i + 1] as string) ?? 0) - (j[i + 2] as number))
    }
    this.end()
  }

  /** Bytes of account `a` as `tx` sees it: committed, the group in flight, and this group so far. */
  #seen (tx: Tx, a: string): number {
    let n = this.#bytes.get(a) ?? 0
    n += this.#pending.get(tx)?.get(a) ?? 0
    if (tx.prev != null) { n += this.#pending.get(tx.prev)?.get(a) ?? 0 }
    return n
  }

  /**
   * The first limit the new records `adds` (charged `charges`) break on top of what `tx` holds
   * (its usage for the quota), with the account whose copies may give way; undefined when all fit.
   */
  breach (tx: Tx, adds: readonly ShareEntry[]): { code: ShareCode, account: string } | undefined {
    // an accept brings one to three records with at most three accounts each: nested loops over
    // them make no map per accept (this runs on every accept)
    let total = 0
    let pool = 0
    for (const e of adds) {
      total += e.charge
      if (e.outbound) { pool += e.charge }
    }
    for (let i = 0; i < adds.length; i++) {
      for (const a of adds[i].accounts) {
        if (a === POOL) { continue }
        let need = 0
        for (const e of adds) { if (e.accounts.includes(a)) { need += e.charge } }
        const source = a.charCodeAt(0) === 0x73 // 's:'
        const limit = source ? this.limits.perSource : this.limits.perNeighbour
        // a share as large as the quota limits nothing the quota does not: the quota's code then
        if (limit < this.limits.quota && this.#seen(tx, a) + need > limit) {
          return { code: source ? 'SOURCE_SHARE_EXCEEDED' : 'NEIGHBOUR_SHARE_EXCEEDED', account: a }
        }
      }
    }
    if (pool > 0 && this.#seen(tx, POOL) + pool > this.limits.forwardPool) { return { code: 'QUOTA_EXCEEDED', account: TOTAL } }
    if (total > 0 && tx.usage.bytes + total > this.limits.quota) { return { code: 'QUOTA_EXCEEDED', account: TOTAL } }
    return undefined
  }

  /**
   * The part key of the evictable record of `account` with the largest expiry, not yet gone in
   * `tx` and (with `outliving`) expiring after it; undefined when there is none.
   */
  victim (tx: Tx, account: string, outliving?: number): string | undefined {
    const h = this.#heaps.get(account)
    if (h == null) { return undefined }
    const popped: Array<{ t: number, key: string }> = []
    let found: string | undefined
    for (;;) {
      const top = h.heap.peek()
      if (top == null) { break }
      const e = this.#lookup(top.key)
      // stale: released, evicted or re-added since (its live entry is elsewhere in the heap)
      if (e == null || e.expiresAt !== -top.t) {
        h.heap.pop()
        continue
      }
      // the largest expiry left is not beyond the newcomer's: nothing here may give way
      if (outliving != null && e.expiresAt <= outliving) { break }
      popped.push(h.heap.pop() as { t: number, key: string })
      if (!tx.gone(`b:${top.key}`)) {
        found = top.key
        break
      }
    }
    // entries looked at stay (they go when their record goes, as stale entries)
    for (const p of popped) { h.heap.push(p.t, p.key) }
    return found
  }
}
