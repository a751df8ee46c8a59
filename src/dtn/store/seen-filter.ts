/**
 * A Bloom filter over the keys of `dtn-seen`, so that accepting a bundle never seen before costs
 * no LevelDB read. The bundle store asks it before reading: "no" is certain (the key was never
 * added), "maybe" costs the read it would have cost anyway. Its memory is fixed (1 MiB by
 * default), whatever the number of seen ids, which is the bound the store keeps (bundle-store.ts);
 * past a few million keys it answers "maybe" more often and accepts fall back to reads, correctly.
 *
 * Keys are never removed (a Bloom filter cannot forget), so as seen ids expire it fills with
 * keys LevelDB no longer holds; the store rebuilds it from a scan once enough were added (bundle-seen.ts).
 */

/** Default size: 2^23 bits (1 MiB). With 6 hashes: about 0.07% false "maybe" at 500k keys, 2% at 1M. */
export const SEEN_FILTER_BITS_LOG2 = 23
const HASHES = 6

/** The two hashes of the last key hashed (see `hash`). */
const pair: [number, number] = [0, 0]

export class SeenFilter {
  readonly #bits: Uint32Array
  readonly #mask: number

  constructor (bitsLog2 = SEEN_FILTER_BITS_LOG2) {
    if (!Number.isInteger(bitsLog2) || bitsLog2 < 10 || bitsLog2 > 30) { throw new RangeError('bitsLog2 must be an integer in [10, 30]') }
    this.#bits = new Uint32Array(2 ** (bitsLog2 - 5))
    this.#mask = 2 ** bitsLog2 - 1
  }

  /** Adds `key`. */
  add (key: string): void {
    hash(key)
    let h1 = pair[0]
    const h2 = pair[1]
    for (let i = 0; i < HASHES; i++) {
      const bit = h1 & this.#mask
      this.#bits[bit >>> 5] |= 1 << (bit & 31)
      h1 = (h1 + h2) >>> 0
    }
  }

  /** False only when `key` was never added. */
  mightHave (key: string): boolean {
    hash(key)
    let h1 = pair[0]
    const h2 = pair[1]
    for (let i = 0; i < HASHES; i++) {
      const bit = h1 & this.#mask
      if ((this.#bits[bit >>> 5] & (1 << (bit & 31))) === 0) { return false }
      h1 = (h1 + h2) >>> 0
    }
    return true
  }
}

/**
 * Two 32-bit hashes of the UTF-16 units of `s` (FNV-1a and a multiplicative one, each finished
 * with a murmur3 mix), combined as h1 + i*h2 (Kirsch-Mitzenmacher). Leaves them in `pair` (no
 * allocation per call): read them at once.
 */
function hash (s: string): void {
  let a = 0x811c9dc5
  let b = 0x9747b28c
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b + c, 0x5bd1e995) ^ (b >>> 15)
  }
  pair[0] = fmix(a)
  pair[1] = fmix(b) | 1
}

function fmix (h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
