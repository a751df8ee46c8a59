import { encode } from 'cborg'
import { decodeBounded } from '../../src/util/bounded-cbor.ts'
import { MAX_CRL_MESSAGE_BYTES, WIRE_VERSION } from './constants.ts'
import { CrlMessageError } from './errors.ts'

/**
 * The CRL message on `/dadm-mesh/crl/1` (and, framed, on `/dadm-mesh/revoke/1.0.0`):
 *
 * { v: 1, crl: bstr }     crl = the CA-signed X.509 CRL, DER, exactly as the CA built it
 *
 * The CRL's own signature is what makes it trustworthy; the gossipsub signature only says which
 * node published it (the CA's node, or any node holding a newer CRL). Size is checked before
 * decoding; nesting and item count while decoding (a flat map of two entries).
 */

export interface CrlMessage {
  v: number
  crl: Uint8Array
}

/** One flat map of two entries: five tokens, depth one. */
const LIMITS = { maxDepth: 1, maxTokens: 5 }

/** Encodes a CRL message; refuses one we would not accept ourselves. */
export function encodeCrlMessage (crlDer: Uint8Array): Uint8Array {
  if (!(crlDer instanceof Uint8Array) || crlDer.byteLength === 0) { throw new CrlMessageError('MALFORMED', 'no CRL bytes') }
  const bytes = encode({ v: WIRE_VERSION, crl: crlDer })
  if (bytes.byteLength > MAX_CRL_MESSAGE_BYTES) { throw new CrlMessageError('TOO_LARGE', `CRL message of ${bytes.byteLength} bytes exceeds ${MAX_CRL_MESSAGE_BYTES}`) }
  return bytes
}

/** Decodes a CRL message: size, then shape, then fields. Throws CrlMessageError. */
export function decodeCrlMessage (bytes: Uint8Array): CrlMessage {
  if (bytes.byteLength > MAX_CRL_MESSAGE_BYTES) { throw new CrlMessageError('TOO_LARGE', `CRL message of ${bytes.byteLength} bytes exceeds ${MAX_CRL_MESSAGE_BYTES}`) }
  let value: unknown
  try {
    value = decodeBounded(bytes, LIMITS)
  } catch (err) {
    throw new CrlMessageError('MALFORMED', 'CRL message is not a strict CBOR flat map', { cause: err })
  }
  if (value == null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new CrlMessageError('MALFORMED', 'CRL message is not a map')
  }
  const o = value as Record<string, unknown>
  if (o.v !== WIRE_VERSION) {
    if (typeof o.v === 'number' && Number.isSafeInteger(o.v) && o.v > WIRE_VERSION) { throw new CrlMessageError('UNSUPPORTED_VERSION', `CRL message version ${o.v}`) }
    throw new CrlMessageError('MALFORMED', 'CRL message has no valid version')
  }
  for (const key of Object.keys(o)) {
    if (key !== 'v' && key !== 'crl') { throw new CrlMessageError('MALFORMED', `unexpected field ${JSON.stringify(key.slice(0, 16))}`) }
  }
  if (!(o.crl instanceof Uint8Array) || o.crl.byteLength === 0) { throw new CrlMessageError('MALFORMED', 'crl is not a byte string') }
  return { v: o.v, crl: o.crl }
}
