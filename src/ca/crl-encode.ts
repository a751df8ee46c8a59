import { EXT } from '../pki/x509-extensions.ts'
import { encodeOid, encodeTlv, TAG } from '../util/der.ts'
import type { KeyHandle } from '../identity/key-store.ts'

/**
 * Our own CRL encoder. @peculiar/x509's CRL generator writes an empty crlEntryExtensions
 * SEQUENCE for entries without a reason, which RFC 5280 forbids (SIZE (1..MAX)) and strict
 * parsers (ours) refuse; a CRL is simple enough to encode exactly, and signing through
 * `KeyHandle.sign` keeps it working for every key backend.
 */

const cat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
const seq = (...parts: Uint8Array[]): Uint8Array => encodeTlv(TAG.SEQUENCE, cat(parts))

const oid = encodeOid

/** Minimal two's-complement DER INTEGER of a non-negative value (serials are positive). */
function unsignedInteger (tag: number, value: bigint): Uint8Array {
  let h = value.toString(16)
  if (h.length % 2 === 1) { h = '0' + h }
  let bytes = Buffer.from(h, 'hex')
  if ((bytes[0] & 0x80) !== 0) { bytes = Buffer.concat([Buffer.of(0), bytes]) }
  return encodeTlv(tag, bytes)
}

/** RFC 5280 §5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
function time (ms: number): Uint8Array {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString() // YYYY-MM-DDTHH:MM:SS.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z'
  const year = Number(iso.slice(0, 4))
  if (year >= 1950 && year < 2050) { return encodeTlv(TAG.UTC_TIME, Buffer.from(digits.slice(2), 'latin1')) }
  return encodeTlv(TAG.GENERALIZED_TIME, Buffer.from(digits, 'latin1'))
}

function extension (id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return seq(oid(id), ...(critical ? [Uint8Array.of(TAG.BOOLEAN, 1, 0xff)] : []), encodeTlv(TAG.OCTET_STRING, value))
}

/** The signature AlgorithmIdentifier per key type (ECDSA and Ed25519 take no parameters). */
function signatureAlgorithm (key: KeyHandle): Uint8Array {
  return seq(oid(key.algorithm === 'P-256' ? '1.2.840.10045.4.3.2' : '1.3.101.112'))
}

export interface CrlEntrySpec {
  serialHex: string
  revocationDate: number
  /** RFC 5280 reason number; 0 (unspecified) is left out, as §5.3.1 asks. */
  reason: number
}

export interface CrlSpec {
  /** The issuer's subject Name DER, byte for byte. */
  issuerName: Uint8Array
  issuerKeyId: Uint8Array
  crlNumber: number
  thisUpdate: number
  nextUpdate: number
  entries: CrlEntrySpec[]
  key: KeyHandle
}

/** Encodes and signs a v2 CRL (RFC 5280 §5.1) with AKI and CRL number; returns its DER. */
export async function signCrl (spec: CrlSpec): Promise<Uint8Array> {
  const alg = signatureAlgorithm(spec.key)
  const revoked = spec.entries.map(e => seq(
    unsignedInteger(TAG.INTEGER, BigInt('0x' + e.serialHex)),
    time(e.revocationDate),
    ...(e.reason !== 0 ? [seq(extension(EXT.CRL_REASON, false, unsignedInteger(TAG.ENUMERATED, BigInt(e.reason))))] : [])
  ))
  const crlExtensions = seq(
    extension(EXT.AUTHORITY_KEY_IDENTIFIER, false, seq(encodeTlv(0x80, spec.issuerKeyId))),
    extension(EXT.CRL_NUMBER, false, unsignedInteger(TAG.INTEGER, BigInt(spec.crlNumber)))
  )
  const tbs = seq(
    encodeTlv(TAG.INTEGER, Uint8Array.of(1)), // v2
    alg,
    spec.issuerName,
    time(spec.thisUpdate),
    time(spec.nextUpdate),
    ...(revoked.length > 0 ? [seq(...revoked)] : []), // an empty list is omitted, not empty
    encodeTlv(0xa0, crlExtensions)
  )
  const signature = await spec.key.sign(tbs)
  return seq(tbs, alg, encodeTlv(TAG.BIT_STRING, cat([Uint8Array.of(0), signature])))
}
