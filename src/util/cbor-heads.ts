/** CBOR major types (RFC 8949 §3.1), for the code that reads or writes CBOR heads by hand. */
export const MAJOR_UINT = 0
export const MAJOR_NEGINT = 1
export const MAJOR_BYTES = 2
export const MAJOR_TEXT = 3
export const MAJOR_ARRAY = 4
export const MAJOR_MAP = 5
export const MAJOR_TAG = 6

/** A CBOR head (RFC 8949 §3): major type and argument, in the shortest form (canonical). */
export function cborHead (major: number, n: number): Uint8Array {
  const m = major << 5
  if (n < 24) { return Uint8Array.of(m | n) }
  if (n < 0x100) { return Uint8Array.of(m | 24, n) }
  if (n < 0x10000) { return Uint8Array.of(m | 25, n >> 8, n & 0xff) }
  return Uint8Array.of(m | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}
