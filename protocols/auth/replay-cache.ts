/**
 * Remembers remote nonces, bounded in count and age, so a replayed hello is named as such
 * (REPLAYED_TRANSCRIPT). Security does not rest on it: our own fresh nonce is in every transcript,
 * so an old signature fails anyway; this turns that failure into a precise diagnosis.
 */
export class ReplayCache {
  private readonly entries = new Map<string, number>()
  private readonly maxEntries: number
  private readonly ttlMs: number

  constructor (maxEntries: number, ttlMs: number) {
    this.maxEntries = maxEntries
    this.ttlMs = ttlMs
  }

  /** Records `nonce` at `now` (ms); returns true when it was already there and fresh. */
  checkAndAdd (nonce: Uint8Array, now: number): boolean {
    const key = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64')
    const seenAt = this.entries.get(key)
    const replayed = seenAt != null && now - seenAt <= this.ttlMs
    // Map keeps insertion order: delete + set moves the entry to the young end.
    this.entries.delete(key)
    this.entries.set(key, now)
    this.evict(now)
    return replayed
  }

  get size (): number {
    return this.entries.size
  }

  private evict (now: number): void {
    // Bounded loop: at most the number of entries.
    for (const [key, at] of this.entries) {
      if (this.entries.size <= this.maxEntries && now - at <= this.ttlMs) { break }
      this.entries.delete(key)
    }
  }
}
