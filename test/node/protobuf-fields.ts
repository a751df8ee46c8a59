/**
 * The top-level varint fields of one protobuf message, by field number; length-delimited fields
 * are skipped. Enough of the wire format for the status and code fields the relay and AutoNAT
 * specs read off raw replies, without the libraries' own codecs (which would hide a malformed reply).
 */
export function varintFields (bytes: Uint8Array): Map<number, number> {
  const out = new Map<number, number>()
  let i = 0
  const varint = (): number => {
    let v = 0
    let shift = 0
    for (;;) {
      if (i >= bytes.length) { throw new Error(`truncated varint in ${Buffer.from(bytes).toString('hex')}`) }
      const b = bytes[i++]
      v += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) { return v }
      shift += 7
    }
  }
  while (i < bytes.length) {
    const key = varint()
    const wire = key & 7
    if (wire === 0) {
      out.set(key >>> 3, varint())
    } else if (wire === 2) {
      i += varint()
    } else {
      throw new Error(`unexpected wire type ${wire} in ${Buffer.from(bytes).toString('hex')}`)
    }
  }
  return out
}
