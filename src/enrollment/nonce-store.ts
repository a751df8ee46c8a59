import { newNonce } from '../attestation/evidence.ts'

/**
 * Attestation nonces handed out by `GET /v1/enroll/nonce`: random, single use, remembered with
 * the time they were issued (the evidence age counts from it) until they expire. In memory: a
 * restart of the CA forgets them, which only makes a node ask again. Bounded: beyond `maxEntries`
 * the oldest goes first. With the default rate limits (1200 requests a minute overall) and the
 * default evidence age (5 minutes), at most 6,000 can be live, under the default bound.
 */
export interface IssuedNonce {
  nonce: Uint8Array
  issuedAt: number
  expiresAt: number
}

export interface NonceStoreInit {
  /** How long a nonce stays usable, ms (the policy's max_evidence_age_seconds). */
  ttlMs: number
  /** @default 10000 */
  maxEntries?: number
}

export class NonceStore {
  readonly #ttlMs: number
  readonly #maxEntries: number
  /** base64 nonce -> issue and expiry times. Map keeps insertion order, so oldest first. */
  readonly #live = new Map<string, { issuedAt: number, expiresAt: number }>()

  constructor (init: NonceStoreInit) {
    if (!(init.ttlMs > 0)) { throw new RangeError('nonce ttl must be positive') }
    this.#ttlMs = init.ttlMs
    this.#maxEntries = init.maxEntries ?? 10_000
  }

  get size (): number { return this.#live.size }

  /** A fresh nonce, valid from `nowMs` for the store's ttl. */
  issue (nowMs: number): IssuedNonce {
    this.#prune(nowMs)
    while (this.#live.size >= this.#maxEntries) {
      const oldest = this.#live.keys().next().value
      if (oldest == null) { break }
      this.#live.delete(oldest)
    }
    const nonce = newNonce()
    const rec = { issuedAt: nowMs, expiresAt: nowMs + this.#ttlMs }
    this.#live.set(Buffer.from(nonce).toString('base64'), rec)
    return { nonce, ...rec }
  }

  /**
   * Spends `nonce`: returns when it was issued, and forgets it, whatever the caller then
   * concludes (a nonce answers one piece of evidence only). Undefined when it was never issued,
   * was spent already, or has expired.
   */
  take (nonce: Uint8Array, nowMs: number): { issuedAt: number } | undefined {
    const key = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64')
    const rec = this.#live.get(key)
    if (rec == null) { return undefined }
    this.#live.delete(key)
    return rec.expiresAt > nowMs ? { issuedAt: rec.issuedAt } : undefined
  }

  /** Every entry has the same ttl, so expiry follows insertion order: stop at the first live one. */
  #prune (nowMs: number): void {
    for (const [k, rec] of this.#live) {
      if (rec.expiresAt > nowMs) { return }
      this.#live.delete(k)
    }
  }
}
