import type { BundleId } from '../dtn/bundle-id.ts'

/**
 * Store keys of the bundle store. No user-controlled string ever enters a key raw: node_ids are
 * hex-encoded (UTF-8), numbers are fixed-width hex, and parts are joined with `.`, which hex
 * never contains. So an id holding NUL, `!` (abstract-level's sublevel separator), `\xff` or any
 * other byte can neither collide with another key nor step outside a range scan, and keys sort
 * by (source, creation time, sequence, offset) and by time where that matters.
 */

/** Fixed-width (16 hex digit) form of a non-negative safe integer: sorts as the number does. */
export function hexNum (n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) { throw new RangeError('key numbers are non-negative safe integers') }
  return n.toString(16).padStart(16, '0')
}

/** UTF-8 hex of a string (never empty: `-` stands for the empty string, which hex cannot produce). */
export function hexText (s: string): string {
  return s === '' ? '-' : Buffer.from(s, 'utf8').toString('hex')
}

/** Key of a whole ADU (a bundle id): `<hex source>.<created>.<sequence>`. */
export function aduKey (id: BundleId): string {
  return `${hexText(id.source)}.${hexNum(id.createdAt)}.${hexNum(id.sequence)}`
}

/** Key of one stored bundle or fragment: the ADU key and the fragment offset (0 for a whole bundle). */
export function partKey (id: BundleId, offset: number): string {
  return `${aduKey(id)}.${hexNum(offset)}`
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
