/**
 * The two CRCs of RFC 9171 §4.2.1: CRC-16 X.25 (type 1) and CRC-32C Castagnoli (type 2), both
 * reflected, table driven. node:zlib's crc32 is the ISO-HDLC polynomial, not Castagnoli, so we
 * carry our own. Only small blocks are checksummed (the primary block), so speed hardly matters.
 */

function table (poly: number, bits: 16 | 32): Uint32Array {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) { c = (c & 1) !== 0 ? (c >>> 1) ^ poly : c >>> 1 }
    t[i] = bits === 16 ? c & 0xffff : c >>> 0
  }
  return t
}

const CRC32C_TABLE = table(0x82f63b78, 32)
const CRC16_X25_TABLE = table(0x8408, 16)

/** CRC-32C (Castagnoli): init and final XOR 0xffffffff. `crc32c("123456789") = 0xe3069283`. */
export function crc32c (data: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < data.length; i++) { c = CRC32C_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8) }
  return (c ^ 0xffffffff) >>> 0
}

/** CRC-16/X-25: init and final XOR 0xffff. `crc16X25("123456789") = 0x906e`. */
export function crc16X25 (data: Uint8Array): number {
  let c = 0xffff
  for (let i = 0; i < data.length; i++) { c = CRC16_X25_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8) }
  return (c ^ 0xffff) & 0xffff
}

/** CRC types of RFC 9171 §4.2.1. */
export type CrcType = 0 | 1 | 2

/** Length of the CRC value of each type, in bytes. */
export function crcLength (type: CrcType): number {
  return type === 0 ? 0 : type === 1 ? 2 : 4
}

/**
 * The CRC of a block as RFC 9171 §4.2.1 defines it: computed over the block's whole CBOR encoding
 * with the CRC value's own bytes (the last `crcLength` bytes, a byte string) set to zero, and
 * returned big-endian. `block` is not modified.
 */
export function blockCrc (type: 1 | 2, block: Uint8Array): Uint8Array {
  const n = crcLength(type)
  const copy = Uint8Array.from(block)
  copy.fill(0, copy.length - n)
  const out = new Uint8Array(n)
  const view = new DataView(out.buffer)
  if (type === 1) { view.setUint16(0, crc16X25(copy)) } else { view.setUint32(0, crc32c(copy)) }
  return out
}
