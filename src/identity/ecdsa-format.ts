import { encodeTlv, TAG } from '../util/der.ts'

/** Minimal positive DER INTEGER content for an unsigned big-endian number. */
function unsignedIntegerContent (bytes: Uint8Array): Uint8Array {
  let i = 0
  while (i < bytes.length - 1 && bytes[i] === 0) { i++ }
  const v = bytes.subarray(i)
  if ((v[0] & 0x80) === 0) { return v }
  const out = new Uint8Array(v.length + 1)
  out.set(v, 1)
  return out
}

/**
 * Converts a WebCrypto ECDSA signature (IEEE P1363 r || s) to the DER Ecdsa-Sig-Value that
 * X.509, CSRs and CRLs carry (RFC 5758 §3.2).
 */
export function p1363ToDer (sig: Uint8Array): Uint8Array {
  if (sig.length === 0 || sig.length % 2 !== 0) {
    throw new RangeError('P1363 signature must have an even, non-zero length')
  }
  const half = sig.length / 2
  const r = encodeTlv(TAG.INTEGER, unsignedIntegerContent(sig.subarray(0, half)))
  const s = encodeTlv(TAG.INTEGER, unsignedIntegerContent(sig.subarray(half)))
  const body = new Uint8Array(r.length + s.length)
  body.set(r, 0)
  body.set(s, r.length)
  return encodeTlv(TAG.SEQUENCE, body)
}
