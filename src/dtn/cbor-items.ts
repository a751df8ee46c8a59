import { decode } from 'cborg'
import { MAJOR_ARRAY, MAJOR_BYTES, MAJOR_MAP, MAJOR_NEGINT, MAJOR_TAG, MAJOR_TEXT, MAJOR_UINT } from '../util/cbor-heads.ts'
import { BundleError } from './errors.ts'

/**
 * A bounded walker over CBOR item boundaries, used before any object is built: it finds where
 * each block of a bundle (or each item of a CBOR sequence such as an abstract security block)
 * starts and ends, so CRCs and signatures can be computed over the exact bytes received, and it
 * refuses hostile shapes early: declared lengths beyond the input (2^64-1 included), nesting
 * deeper than a BPv7 structure needs, more items than a budget, tags, floats, indefinite lengths
 * anywhere but the bundle's outer array. cborg then decodes each (small, checked) slice.
 */

export interface WalkLimits {
  /** Deepest nesting accepted inside one item (a BPv7 EID is 2 levels below its block). */
  maxDepth: number
  /** Most heads (items at any depth) accepted in the whole walk. */
  maxItems: number
}

interface Head { major: number, info: number, arg: number, size: number }

function malformed (what: string): BundleError {
  return new BundleError('MALFORMED_BUNDLE', what)
}

/** Reads an item head at `pos`. Arguments above 2^53 come back as Infinity (always out of range). */
function readHead (bytes: Uint8Array, pos: number, end: number): Head {
  if (pos >= end) { throw malformed('CBOR item truncated') }
  const b = bytes[pos]
  const major = b >>> 5
  const info = b & 0x1f
  if (info < 24) { return { major, info, arg: info, size: 1 } }
  const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
  if (n === 0) {
    if (info === 31) { return { major, info, arg: -1, size: 1 } }
    throw malformed('reserved CBOR additional information')
  }
  if (pos + 1 + n > end) { throw malformed('CBOR item head truncated') }
  let arg = 0
  for (let i = 1; i <= n; i++) { arg = arg * 256 + bytes[pos + i] }
  // Numbers above 2^53 lose precision here; they are only ever compared against bounds far
  // below 2^53, so treat them as "too large" outright.
  if (arg > Number.MAX_SAFE_INTEGER) { arg = Number.POSITIVE_INFINITY }
  return { major, info, arg, size: 1 + n }
}

interface Budget { items: number }

/** Returns the position just after the item starting at `pos`. */
function skipItem (bytes: Uint8Array, pos: number, end: number, depth: number, limits: WalkLimits, budget: Budget): number {
  if (++budget.items > limits.maxItems) { throw malformed('too many CBOR items') }
  const h = readHead(bytes, pos, end)
  if (h.info === 31) { throw malformed('indefinite-length item where a definite one is required') }
  let p = pos + h.size
  switch (h.major) {
    case MAJOR_UINT:
    case MAJOR_NEGINT:
      return p
    case MAJOR_BYTES:
    case MAJOR_TEXT:
      if (h.arg > end - p) { throw new BundleError('LENGTH_OUT_OF_RANGE', 'declared string length exceeds the input') }
      return p + h.arg
    case MAJOR_ARRAY:
    case MAJOR_MAP: {
      const count = h.major === MAJOR_MAP ? h.arg * 2 : h.arg
      // every item takes at least one byte, so a count beyond the remaining bytes is a lie
      if (count > end - p) { throw new BundleError('LENGTH_OUT_OF_RANGE', 'declared item count exceeds the input') }
      if (count > 0 && depth + 1 > limits.maxDepth) { throw malformed('CBOR nested too deep') }
      for (let i = 0; i < count; i++) { p = skipItem(bytes, p, end, depth + 1, limits, budget) }
      return p
    }
    case MAJOR_TAG:
      throw malformed('CBOR tags are not used in bundles')
    default:
      throw malformed('CBOR simple values and floats are not used in bundles')
  }
}

/** Splits bytes [start, end) holding a CBOR sequence into its items' [start, end) ranges. */
export function splitSequence (bytes: Uint8Array, limits: WalkLimits, start = 0, end = bytes.length, maxItems = Number.POSITIVE_INFINITY): Array<[number, number]> {
  const budget = { items: 0 }
  const out: Array<[number, number]> = []
  let p = start
  while (p < end) {
    if (out.length >= maxItems) { throw malformed('too many items in sequence') }
    const q = skipItem(bytes, p, end, 0, limits, budget)
    out.push([p, q])
    p = q
  }
  return out
}

/**
 * Splits an indefinite-length array (the form of a BPv7 bundle, RFC 9171 §4.1) into its items'
 * ranges; the break byte must be the last byte of the input.
 */
export function splitIndefiniteArray (bytes: Uint8Array, limits: WalkLimits, maxItems: number): Array<[number, number]> {
  if (bytes.length < 2 || bytes[0] !== 0x9f) { throw malformed('a bundle is an indefinite-length CBOR array') }
  if (bytes[bytes.length - 1] !== 0xff) { throw malformed('bundle does not end with a break') }
  return splitSequence(bytes, limits, 1, bytes.length - 1, maxItems)
}

/** Returns the start and end of the content of a definite byte string whose head is at `pos`. */
export function byteStringContent (bytes: Uint8Array, pos: number, end: number): [number, number] {
  const h = readHead(bytes, pos, end)
  if (h.major !== MAJOR_BYTES || h.info === 31) { throw malformed('expected a definite byte string') }
  if (h.arg > end - pos - h.size) { throw new BundleError('LENGTH_OUT_OF_RANGE', 'declared string length exceeds the input') }
  return [pos + h.size, pos + h.size + h.arg]
}

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  // big values decode (as bigint) so that field checks can name them LENGTH_OUT_OF_RANGE
  allowBigInt: true,
  rejectDuplicateMapKeys: true,
  useMaps: false
}

/**
 * Deepest nesting and most heads `decodeItem` accepts in one item: an ASB parameter list is the
 * deepest structure of a mesh bundle (list > [id, value] > certificate chain, 3 levels), so 4
 * leaves a level to spare; 512 heads is far above any block's own count (a primary block has
 * about 20).
 */
export const ITEM_LIMITS: WalkLimits = { maxDepth: 4, maxItems: 512 }

/**
 * Decodes one CBOR item; any refusal becomes MALFORMED_BUNDLE (or LENGTH_OUT_OF_RANGE). The
 * walker runs over the slice first, whatever the caller did: cborg decodes recursively with no
 * depth limit, and a block's data (the hop count block's, an extension block's) is opaque to the
 * walk of the bundle around it, so 64 KiB of nested arrays there would otherwise reach cborg.
 * The walk also proves the slice is exactly one item.
 */
export function decodeItem (bytes: Uint8Array, limits: WalkLimits = ITEM_LIMITS): unknown {
  if (splitSequence(bytes, limits, 0, bytes.length, 1).length !== 1) { throw malformed('expected one CBOR item') }
  try {
    return decode(bytes, DECODE_OPTIONS)
  } catch (err: any) {
    throw new BundleError('MALFORMED_BUNDLE', 'item is not strict CBOR', { cause: err })
  }
}

/** A CBOR unsigned integer field, as a safe integer; bigints and values above `max` are LENGTH_OUT_OF_RANGE. */
export function uintField (v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v === 'bigint') {
    if (v < 0n) { throw malformed(`${what} is negative`) }
    throw new BundleError('LENGTH_OUT_OF_RANGE', `${what} is out of range`)
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) { throw malformed(`${what} is not an unsigned integer`) }
  if (v < 0) { throw malformed(`${what} is negative`) }
  if (v > max) { throw new BundleError('LENGTH_OUT_OF_RANGE', `${what} is out of range`) }
  return v
}

/** A CBOR integer field (either sign) within the safe range. */
export function intField (v: unknown, what: string): number {
  if (typeof v === 'bigint') { throw new BundleError('LENGTH_OUT_OF_RANGE', `${what} is out of range`) }
  if (typeof v !== 'number' || !Number.isInteger(v)) { throw malformed(`${what} is not an integer`) }
  return v
}

/** A CBOR array field of `min`..`max` items. */
export function arrayField (v: unknown, what: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v) || v.length < min || v.length > max) { throw malformed(`${what} is not an array of ${min}-${max} items`) }
  return v
}

/** A CBOR byte string field of `min`..`max` bytes. */
export function bytesField (v: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): Uint8Array {
  if (!(v instanceof Uint8Array)) { throw malformed(`${what} is not a byte string`) }
  if (v.byteLength < min || v.byteLength > max) { throw malformed(`${what} has a bad length`) }
  return v
}
