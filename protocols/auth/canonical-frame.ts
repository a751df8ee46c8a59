import { MAJOR_ARRAY, MAJOR_BYTES, MAJOR_MAP, MAJOR_TEXT, MAJOR_UINT } from '../../src/util/cbor-heads.ts'

/**
 * The fast path of `decodeFrame`: reads a frame only when its bytes are exactly what
 * `encodeFrame` writes, a canonical CBOR map (shortest-form heads, keys sorted length first)
 * of our keys with values of their types, nothing after it. Anything else returns null and goes
 * to the general bounded decoder, which accepts or refuses it with its precise error. Both
 * paths hand their object to the same field checks.
 *
 * Why: cborg's decoder and the bounded token scan in front of it are general machinery on each
 * side's critical path per dial, for three frames of at most six items whose exact bytes we
 * know.
 */

const FALSE = 0xf4
const TRUE = 0xf5
/** More items than any frame of ours has: a longer array is not ours (checkFrame says why). */
const MAX_ITEMS = 16

const utf8 = new TextDecoder('utf-8', { fatal: true })

class Reader {
  private at = 0
  private readonly b: Uint8Array

  constructor (b: Uint8Array) {
    this.b = b
  }

  get done (): boolean { return this.at === this.b.byteLength }

  /** The argument of a head of `major` in shortest form, or null. */
  head (major: number): number | null {
    const first = this.b[this.at]
    if (first === undefined || first >> 5 !== major) { return null }
    const info = first & 0x1f
    let n: number
    let size: number
    if (info < 24) {
      n = info
      size = 1
    } else if (info === 24) {
      n = this.b[this.at + 1]
      size = 2
      if (n === undefined || n < 24) { return null }
    } else if (info === 25) {
      n = (this.b[this.at + 1] << 8) | this.b[this.at + 2]
      size = 3
      if (this.at + 3 > this.b.byteLength || n < 0x100) { return null }
    } else {
      return null
    }
    this.at += size
    return n
  }

  /** `n` raw bytes, copied out of the network buffer, or null past the end. */
  take (n: number): Uint8Array | null {
    if (this.at + n > this.b.byteLength) { return null }
    const out = this.b.slice(this.at, this.at + n)
    this.at += n
    return out
  }

  bytes (): Uint8Array | null {
    const n = this.head(MAJOR_BYTES)
    return n == null ? null : this.take(n)
  }

  text (): string | null {
    const n = this.head(MAJOR_TEXT)
    const raw = n == null ? null : this.take(n)
    if (raw == null) { return null }
    try {
      return utf8.decode(raw)
    } catch {
      return null
    }
  }

  bool (): boolean | null {
    const v = this.b[this.at]
    if (v !== TRUE && v !== FALSE) { return null }
    this.at++
    return v === TRUE
  }

  byteStrings (): Uint8Array[] | null {
    const n = this.head(MAJOR_ARRAY)
    if (n == null || n > MAX_ITEMS) { return null }
    const out: Uint8Array[] = []
    for (let i = 0; i < n; i++) {
      const item = this.bytes()
      if (item == null) { return null }
      out.push(item)
    }
    return out
  }
}

/** Canonical CBOR key order (RFC 7049 §3.9, what cborg writes): shorter first, then bytewise. */
function before (a: string, b: string): boolean {
  return a.length < b.length || (a.length === b.length && a < b)
}

/** The frame's map as cborg would decode it, when the bytes are canonical and ours; else null. */
export function readCanonicalFrame (bytes: Uint8Array): Record<string, unknown> | null {
  const r = new Reader(bytes)
  const entries = r.head(MAJOR_MAP)
  if (entries == null || entries > 4) { return null }
  const out: Record<string, unknown> = {}
  let last: string | undefined
  for (let i = 0; i < entries; i++) {
    const key = r.text()
    if (key == null || (last != null && !before(last, key))) { return null }
    last = key
    let value: unknown
    switch (key) {
      case 't':
      case 'v':
        value = r.head(MAJOR_UINT)
        break
      case 'chain':
        value = r.byteStrings()
        break
      case 'nonce':
      case 'sig':
        value = r.bytes()
        break
      case 'ok':
        value = r.bool()
        break
      case 'code':
        value = r.text()
        break
      default:
        return null
    }
    if (value == null) { return null }
    out[key] = value
  }
  return r.done ? out : null
}
