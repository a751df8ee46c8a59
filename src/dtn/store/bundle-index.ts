import type { ShareEntry } from './bundle-shares.ts'

/**
 * The bundle store's secondary indexes, held in memory and rebuilt from the records at open
 * (bundle-store.ts says why they are not on disk). Bounded by the store's quota: one small entry
 * per stored record, never one per bundle ever seen.
 */

/** A binary min-heap of (time, key), ordered by time then key. Stale entries are skipped by the caller. */
export class TimeHeap {
  readonly #t: number[] = []
  readonly #k: string[] = []

  get size (): number {
    return this.#t.length
  }

  push (t: number, key: string): void {
    this.#t.push(t)
    this.#k.push(key)
    this.#up(this.#t.length - 1)
  }

  /** The smallest entry, or undefined when empty. */
  peek (): { t: number, key: string } | undefined {
    return this.#t.length === 0 ? undefined : { t: this.#t[0], key: this.#k[0] }
  }

  pop (): { t: number, key: string } | undefined {
    if (this.#t.length === 0) { return undefined }
    const top = { t: this.#t[0], key: this.#k[0] }
    const lastT = this.#t.pop() as number
    const lastK = this.#k.pop() as string
    if (this.#t.length > 0) {
      this.#t[0] = lastT
      this.#k[0] = lastK
      this.#down(0)
    }
    return top
  }

  /** Rebuilds the heap from the entries `keep` accepts (drops stale ones in one pass). */
  compact (keep: (t: number, key: string) => boolean): void {
    const t = this.#t.splice(0)
    const k = this.#k.splice(0)
    for (let i = 0; i < t.length; i++) { if (keep(t[i], k[i])) { this.push(t[i], k[i]) } }
  }

  #less (i: number, j: number): boolean {
    return this.#t[i] < this.#t[j] || (this.#t[i] === this.#t[j] && this.#k[i] < this.#k[j])
  }

  #swap (i: number, j: number): void {
    const t = this.#t[i]
    this.#t[i] = this.#t[j]
    this.#t[j] = t
    const k = this.#k[i]
    this.#k[i] = this.#k[j]
    this.#k[j] = k
  }

  #up (i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(i, p)) { return }
      this.#swap(i, p)
      i = p
    }
  }

  #down (i: number): void {
    const n = this.#t.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && this.#less(l, m)) { m = l }
      if (r < n && this.#less(r, m)) { m = r }
      if (m === i) { return }
      this.#swap(i, m)
      i = m
    }
  }
}

/** What the index keeps of one outbound part (bundle or fragment held for forwarding). */
export interface HeldPart {
  /** Next attempt time, ms: the retry schedule (kept in memory only, see bundle-store.ts). */
  nextAttemptAt: number
  attempts: number
  expiresAt: number
  /** The by-destination key (hex node_id, or `*` for broadcast). */
  dest: string
  /** Spray-and-wait copies held: > 1 means "offer to a new relay". */
  copies: number
  /** Bytes charged against the quota for its record. */
  charge: number
  /** Its share entry (bundle-shares.ts): whose shares it is charged to. */
  share: ShareEntry
}

/** What the index keeps of a fragment awaiting reassembly or an inbox entry. */
export interface HeldValue {
  expiresAt: number
  charge: number
  share: ShareEntry
  /** The part key the record stands for as "seen" (its own part; offset 0 for an inbox entry). */
  pk: string
}

/** Expiry kinds: outbound part, fragment, inbox entry. */
export type ExpiryKind = 'b' | 'f' | 'i'

/**
 * The three indexes the agent asks by, beside the records: outbound by next attempt time (retries),
 * by destination (a peer that connects), and by expiry (the sweep); plus what fragments and inbox entries weigh, for the quota.
 */
export class BundleIndex {
  readonly outbound = new Map<string, HeldPart>()
  readonly #byDest = new Map<string, Set<string>>()
  readonly #schedule = new TimeHeap()
  /**
   * Expiry of records: an outbound part by its part key as it is (no string made per accept),
   * fragments and inbox entries by their `held` key `<kind>:<store key>`. Part keys never have
   * `:` as their second character (hex or `-`, then hex or `.`), so the two never mix.
   */
  readonly #expiry = new TimeHeap()
  /** Fragments (`f:`) and inbox entries (`i:`) by store key. */
  readonly held = new Map<string, HeldValue>()
  /**
   * Part keys a fragment or inbox record stands for (a count: a broadcast may be held and
   * delivered at once); outbound parts stand for themselves in `outbound` (one map less to
   * update per accept).
   */
  readonly #parts = new Map<string, number>()

  /** True when a held record stands for part `pk`: it counts as seen without a seen key. */
  holds (pk: string): boolean {
    return this.outbound.has(pk) || (this.#parts.size > 0 && this.#parts.has(pk))
  }

  #hold (pk: string): void {
    this.#parts.set(pk, (this.#parts.get(pk) ?? 0) + 1)
  }

  #drop (pk: string): void {
    const n = (this.#parts.get(pk) ?? 0) - 1
    if (n > 0) { this.#parts.set(pk, n) } else { this.#parts.delete(pk) }
  }

  /** Adds (or replaces) an outbound part. */
  addOutbound (pk: string, part: HeldPart): void {
    this.removeOutbound(pk)
    this.outbound.set(pk, part)
    let set = this.#byDest.get(part.dest)
    if (set == null) {
      set = new Set()
      this.#byDest.set(part.dest, set)
    }
    set.add(pk)
    this.#schedule.push(part.nextAttemptAt, pk)
    this.#expiry.push(part.expiresAt, pk)
    this.#maybeCompact()
  }

  removeOutbound (pk: string): HeldPart | undefined {
    const part = this.outbound.get(pk)
    if (part == null) { return undefined }
    this.outbound.delete(pk)
    const set = this.#byDest.get(part.dest)
    set?.delete(pk)
    if (set?.size === 0) { this.#byDest.delete(part.dest) }
    return part
  }

  /** Moves a part's next attempt (the heap keeps the old entry until it surfaces, then skips it). */
  reschedule (pk: string, patch: { nextAttemptAt?: number, attempts?: number, copies?: number }): boolean {
    const part = this.outbound.get(pk)
    if (part == null) { return false }
    if (patch.attempts != null) { part.attempts = patch.attempts }
    if (patch.copies != null) { part.copies = patch.copies }
    if (patch.nextAttemptAt != null && patch.nextAttemptAt !== part.nextAttemptAt) {
      part.nextAttemptAt = patch.nextAttemptAt
      this.#schedule.push(patch.nextAttemptAt, pk)
      this.#maybeCompact()
    }
    return true
  }

  addHeld (kind: 'f' | 'i', key: string, value: HeldValue): void {
    this.removeHeld(kind, key)
    this.held.set(`${kind}:${key}`, value)
    this.#hold(value.pk)
    this.#expiry.push(value.expiresAt, `${kind}:${key}`)
  }

  removeHeld (kind: 'f' | 'i', key: string): HeldValue | undefined {
    const k = `${kind}:${key}`
    const v = this.held.get(k)
    if (v == null) { return undefined }
    this.held.delete(k)
    this.#drop(v.pk)
    return v
  }

  /** Part keys due at `now`, earliest first, at most `limit`. */
  due (now: number, limit: number): string[] {
    const out: string[] = []
    const popped: Array<{ t: number, key: string }> = []
    const seen = new Set<string>()
    while (out.length < limit) {
      const top = this.#schedule.peek()
      if (top == null || top.t > now) { break }
      popped.push(this.#schedule.pop() as { t: number, key: string })
      const part = this.outbound.get(top.key)
      // stale: released, or moved to another time since this entry was pushed
      if (part == null || part.nextAttemptAt !== top.t || seen.has(top.key)) { continue }
      seen.add(top.key)
      out.push(top.key)
    }
    const back = new Set<string>()
    for (const p of popped) {
      const part = this.outbound.get(p.key)
      if (part == null || part.nextAttemptAt !== p.t || back.has(p.key)) { continue }
      back.add(p.key)
      this.#schedule.push(p.t, p.key)
    }
    return out
  }

  /** The earliest next attempt time, if any part is held. */
  nextAttemptTime (): number | undefined {
    for (let i = 0; i < 1_000_000; i++) {
      const top = this.#schedule.peek()
      if (top == null) { return undefined }
      const part = this.outbound.get(top.key)
      if (part != null && part.nextAttemptAt === top.t) { return top.t }
      this.#schedule.pop()
    }
    return undefined
  }

  /** Part keys addressed to `dest` (a by-destination key), in key order, at most `limit`. */
  forDest (dest: string, limit: number): string[] {
    const set = this.#byDest.get(dest)
    if (set == null) { return [] }
    return [...set].sort().slice(0, limit)
  }

  /** Part keys that still hold more than one spray copy, in key order, at most `limit`. */
  sprayable (limit: number): string[] {
    const out: string[] = []
    for (const [pk, part] of this.outbound) { if (part.copies > 1) { out.push(pk) } }
    return out.sort().slice(0, limit)
  }

  /**
   * Records whose expiry is at or before `now`, earliest first, at most `limit`: each as its kind
   * and store key. Entries stay in the heap until the caller's change commits (`dropExpired`).
   */
  expired (now: number, limit: number): Array<{ kind: ExpiryKind, key: string }> {
    const out: Array<{ kind: ExpiryKind, key: string }> = []
    const popped: Array<{ t: number, key: string }> = []
    const seen = new Set<string>()
    while (out.length < limit) {
      const top = this.#expiry.peek()
      if (top == null || top.t > now) { break }
      popped.push(this.#expiry.pop() as { t: number, key: string })
      if (!this.#expiryLive(top.t, top.key) || seen.has(top.key)) { continue }
      seen.add(top.key)
      out.push(isHeldKey(top.key) ? { kind: top.key[0] as ExpiryKind, key: top.key.slice(2) } : { kind: 'b', key: top.key })
    }
    const back = new Set<string>()
    for (const p of popped) {
      if (back.has(p.key) || !this.#expiryLive(p.t, p.key)) { continue }
      back.add(p.key)
      this.#expiry.push(p.t, p.key)
    }
    return out
  }

  #expiryLive (t: number, key: string): boolean {
    if (!isHeldKey(key)) { return this.outbound.get(key)?.expiresAt === t }
    return this.held.get(key)?.expiresAt === t
  }

  /** Drops stale heap entries once they outnumber the live ones (reschedules leave one behind each). */
  #maybeCompact (): void {
    const live = this.outbound.size + this.held.size
    if (this.#schedule.size > 2 * live + 1024) {
      const kept = new Set<string>()
      this.#schedule.compact((t, pk) => this.outbound.get(pk)?.nextAttemptAt === t && !kept.has(pk) && kept.add(pk) != null)
    }
    if (this.#expiry.size > 2 * live + 1024) {
      const kept = new Set<string>()
      this.#expiry.compact((t, key) => this.#expiryLive(t, key) && !kept.has(key) && kept.add(key) != null)
    }
  }
}

/** True for a `held` key (`f:...`, `i:...`), false for a part key (see `#expiry`). */
function isHeldKey (key: string): boolean {
  return key.charCodeAt(1) === 0x3a
}
