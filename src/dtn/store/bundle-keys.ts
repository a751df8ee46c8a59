import type { BundleId } from '../bundle-id.ts'

/**
 * Store keys of the bundle store. No user-controlled string ever enters a key raw: node_ids are
 * hex-encoded (UTF-8), numbers are fixed-width hex, and parts are joined with `.`, which hex
 * never contains. So an id holding NUL, `!` (abstract-level's sublevel separator), `\xff` or any
 * other byte can neither collide with another key nor step outside a range scan, and keys sort
 * by (source, creation time, sequence, offset) and by time where that matters.
 */

const ZEROS = '0000000000000000'

/** Fixed-width (16 hex digit) form of a non-negative safe integer: sorts as the number does. */
export function hexNum (n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) { throw new RangeError('key numbers are non-negative safe integers') }
  if (n === 0) { return ZEROS } // the offset of every whole bundle
  const h = n.toString(16)
  // one slice and one concatenation: padStart made several strings per call, three calls per accept
  return ZEROS.slice(h.length) + h
}

/** Recent hexText results: node_ids repeat (one per source and destination), and every accept makes keys. */
const hexCache = new Map<string, string>()
/** Bounds the cache: it is cleared whole when full (node_ids are at most 64 characters). */
const HEX_CACHE_MAX = 4096

/** UTF-8 hex of a string (never empty: `-` stands for the empty string, which hex cannot produce). */
export function hexText (s: string): string {
  if (s === '') { return '-' }
  let h = hexCache.get(s)
  if (h === undefined) {
    h = Buffer.from(s, 'utf8').toString('hex')
    if (s.length <= 64) {
      if (hexCache.size >= HEX_CACHE_MAX) { hexCache.clear() }
      hexCache.set(s, h)
    }
  }
  return h
}

/** Key of a whole ADU (a bundle id): `<hex source>.<created>.<sequence>`. */
export function aduKey (id: BundleId): string {
  return idKey(id, -1)
}

/** Key of one stored bundle or fragment: the ADU key and the fragment offset (0 for a whole bundle). */
export function partKey (id: BundleId, offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0) { throw new RangeError('key numbers are non-negative safe integers') }
  return idKey(id, offset)
}

/**
 * Keys are made on every accept, so they are written as ASCII into a scratch buffer and read
 * back as one string: a template of hexNum parts made some ten intermediate strings per key, and
 * the result was a rope that had to be flattened on first use as a map key (bench/dtn.ts: about
 * 0.3 us of each accept). The text is exactly the template's.
 */
const scratch = Buffer.allocUnsafe(256)
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1')

/** `<hex source>.<created>.<sequence>` and, unless `offset` is -1, `.<offset>`. */
function idKey (id: BundleId, offset: number): string {
  const source = hexText(id.source)
  if (!Number.isSafeInteger(id.createdAt) || id.createdAt < 0 || !Number.isSafeInteger(id.sequence) || id.sequence < 0) {
    throw new RangeError('key numbers are non-negative safe integers')
  }
  if (source.length + 3 * 17 > scratch.length) {
    const adu = `${source}.${hexNum(id.createdAt)}.${hexNum(id.sequence)}`
    return offset < 0 ? adu : `${adu}.${hexNum(offset)}`
  }
  let p = scratch.write(source, 0, 'latin1')
  p = hex16(p, id.createdAt)
  p = hex16(p, id.sequence)
  if (offset >= 0) { p = hex16(p, offset) }
  return scratch.toString('latin1', 0, p)
}

/** Writes `.` and the 16 hex digits of safe integer `n` at `p` in the scratch buffer; returns the end. */
function hex16 (p: number, n: number): number {
  scratch[p] = 0x2e
  let hi = Math.floor(n / 0x1_0000_0000)
  let lo = n >>> 0
  for (let i = 16; i > 8; i--) {
    scratch[p + i] = HEX_DIGITS[lo & 15]
    lo >>>= 4
  }
  for (let i = 8; i > 0; i--) {
    scratch[p + i] = HEX_DIGITS[hi & 15]
    hi >>>= 4
  }
  return p + 17
}

/** Key of a fragment awaiting reassembly: its part key and its length. */
export function fragmentKey (partKeyText: string, length: number): string {
  return `${partKeyText}.${hexNum(length)}`
}

/** The ADU key a part key belongs to. */
export function aduOfPart (key: string): string {
  return key.slice(0, key.lastIndexOf('.'))
}

/** Bounds of a range scan over every key that starts with `prefix.` (`/` is the byte after `.`). */
export function under (prefix: string): { gt: string, lt: string } {
  return { gt: `${prefix}.`, lt: `${prefix}/` }
}

/** The by-destination index key component; `*` (not a hex digit) stands for broadcast. */
export function destKey (destination: string, broadcast: boolean): string {
  return broadcast ? '*' : hexText(destination)
}
