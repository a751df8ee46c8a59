/**
 * Digests of accepted quotes, kept as long as a quote could still pass the age check, so the
 * same quote is never accepted twice. The clock is passed in. Bounded: when full, the oldest
 * entry goes first (a quote that old is near its age limit anyway); the default bound is far
 * above what one verifier accepts in a `max_evidence_age_seconds` window.
 */
export class ReplayCache {
  readonly #maxEntries: number
  /** digest hex -> time it expires (ms). Map keeps insertion order: oldest first. */
  readonly #seen = new Map<string, number>()

  constructor (init: { maxEntries?: number } = {}) {
    this.#maxEntries = init.maxEntries ?? 100_000
  }

  get size (): number { return this.#seen.size }

  /** True when `digest` was recorded and has not expired at `nowMs`. */
  has (digest: string, nowMs: number): boolean {
    const exp = this.#seen.get(digest)
    return exp != null && exp > nowMs
  }

  /** Records `digest` until `nowMs + ttlMs`, dropping expired entries and, if full, the oldest. */
  add (digest: string, nowMs: number, ttlMs: number): void {
    this.#prune(nowMs)
    this.#seen.delete(digest)
    while (this.#seen.size >= this.#maxEntries) {
      const oldest = this.#seen.keys().next().value
      if (oldest == null) { break }
      this.#seen.delete(oldest)
    }
    this.#seen.set(digest, nowMs + ttlMs)
  }

  /** Entries are inserted with the same ttl, so expiry follows insertion order: stop at the first live one. */
  #prune (nowMs: number): void {
    for (const [d, exp] of this.#seen) {
      if (exp > nowMs) { return }
      this.#seen.delete(d)
    }
  }
}
