/**
 * A small bounded memo for deterministic derivations from key bytes (TPM2B_PUBLIC -> SPKI and
 * Name, SPKI -> KeyObject). A verifier sees the same few AKs and EKs again and again (every
 * peer, every hour), and importing a key costs more than the ECDSA verify itself (bench/hw.ts).
 * Oldest entries go first when full.
 */
export class KeyCache<V> {
  readonly #max: number
  readonly #map = new Map<string, V>()

  constructor (max = 1024) {
    this.#max = max
  }

  /** The value for `key`, computing and remembering it on a miss. */
  get (key: Uint8Array, make: () => V): V {
    const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64')
    const hit = this.#map.get(k)
    if (hit !== undefined) { return hit }
    const v = make()
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next().value
      if (oldest != null) { this.#map.delete(oldest) }
    }
    this.#map.set(k, v)
    return v
  }
}
