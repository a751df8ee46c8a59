/**
 * A small seeded PRNG (sfc32 seeded through a string hash), so that topology, schedule and link
 * draws are the same for the same `--seed` on every machine and in every shard. Not for keys.
 */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: string) {
    const h = hashSeed(seed)
    this.a = h[0]; this.b = h[1]; this.c = h[2]; this.d = h[3]
    // Discard the first outputs: sfc32 mixes poorly right after seeding.
    for (let i = 0; i < 15; i++) { this.next() }
  }

  /** A float in [0, 1). */
  next (): number {
    this.a >>>= 0; this.b >>>= 0; this.c >>>= 0; this.d >>>= 0
    let t = (this.a + this.b) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.d = (this.d + 1) | 0
    t = (t + this.d) | 0
    this.c = (this.c + t) | 0
    return (t >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  /** A float in [lo, hi). */
  range (lo: number, hi: number): number {
    return lo + (hi - lo) * this.next()
  }

  /** `k` distinct integers from [0, n), in draw order. */
  sample (n: number, k: number): number[] {
    const pool = Array.from({ length: n }, (_, i) => i)
    const out: number[] = []
    for (let i = 0; i < Math.min(k, n); i++) {
      const j = i + this.int(n - i)
      const t = pool[i]; pool[i] = pool[j]; pool[j] = t
      out.push(pool[i])
    }
    return out
  }

  /** A child generator for one concern, independent of how many draws the parent made. */
  fork (label: string): Rng {
    return new Rng(`${this.a}:${this.b}:${this.c}:${this.d}/${label}`)
  }
}

/** cyrb128: four 32-bit words from a string. */
function hashSeed (str: string): [number, number, number, number] {
  let h1 = 1779033703; let h2 = 3144134277; let h3 = 1013904242; let h4 = 2773480762
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i)
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067)
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233)
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213)
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179)
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067)
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233)
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213)
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179)
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0]
}
