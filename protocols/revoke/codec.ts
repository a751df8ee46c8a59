import { encode } from 'cborg'
import { decodeBounded } from '../../src/util/bounded-cbor.ts'
import { CRL_VALIDATION_CODES } from '../crl-gossip/errors.ts'
import { MAX_FRAME_BYTES, WIRE_VERSION } from './constants.ts'
import { RevokeError } from './errors.ts'
import type { CrlValidationCode } from '../crl-gossip/errors.ts'

/**
 * The two frames of `/dadm-mesh/revoke/1.0.0`, CBOR maps, each sent length-prefixed (unsigned
 * varint) on a fresh stream opened by the pusher:
 *
 * push   { t: 1, v: 1, crl: bstr }            the CA-signed CRL, DER, as the CA built it
 * result { t: 2, ok: bool, code?: tstr }     what the receiver did with it (a CrlValidationCode)
 *
 * The receiver hands the CRL to the same acceptance as gossip (CrlGossip.offer(..., 'push')):
 * signed by a trusted CA, newer than the one it holds, not expired. An accepted CRL is gossiped
 * on by the receiver. Who pushed does not matter for trust (the CA's signature does); an invalid
 * push should strike the pusher in the node's block list like a failed auth.
 * This file is the wire format only; the handler, dialer and deadline are in mesh-revoke.ts.
 */

export interface PushFrame { t: 1, v: number, crl: Uint8Array }
export interface ResultFrame { t: 2, ok: boolean, code?: CrlValidationCode }
export type RevokeFrame = PushFrame | ResultFrame

/** A flat map of at most three entries. */
const LIMITS = { maxDepth: 1, maxTokens: 7 }

/** Encodes a frame; refuses one we would not accept ourselves. */
export function encodeRevokeFrame (frame: RevokeFrame): Uint8Array {
  const bytes = encode(frame.t === 2 && frame.code == null ? { t: 2, ok: frame.ok } : frame)
  if (bytes.byteLength > MAX_FRAME_BYTES) { throw new RevokeError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`) }
  return bytes
}

/** Decodes one frame: size, then structure, then fields. Throws RevokeError. */
export function decodeRevokeFrame (bytes: Uint8Array): RevokeFrame {
  if (bytes.byteLength > MAX_FRAME_BYTES) { throw new RevokeError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`) }
  let value: unknown
  try {
    value = decodeBounded(bytes, LIMITS)
  } catch (err) {
    throw new RevokeError('MALFORMED_MESSAGE', 'frame is not a strict CBOR flat map', { cause: err })
  }
  if (value == null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) { throw new RevokeError('MALFORMED_MESSAGE', 'frame is not a map') }
  const o = value as Record<string, unknown>
  const keys = Object.keys(o)
  if (o.t === 1) {
    if (keys.some(k => k !== 't' && k !== 'v' && k !== 'crl')) { throw new RevokeError('MALFORMED_MESSAGE', 'unexpected field in push') }
    if (o.v !== WIRE_VERSION) { throw new RevokeError(typeof o.v === 'number' ? 'UNSUPPORTED_VERSION' : 'MALFORMED_MESSAGE', 'push of another version') }
    if (!(o.crl instanceof Uint8Array) || o.crl.byteLength === 0) { throw new RevokeError('MALFORMED_MESSAGE', 'push without CRL bytes') }
    return { t: 1, v: o.v, crl: o.crl }
  }
  if (o.t === 2) {
    if (keys.some(k => k !== 't' && k !== 'ok' && k !== 'code')) { throw new RevokeError('MALFORMED_MESSAGE', 'unexpected field in result') }
    if (typeof o.ok !== 'boolean') { throw new RevokeError('MALFORMED_MESSAGE', 'result without ok') }
    // A code we do not know is dropped, not echoed: logs and metrics stay bounded.
    const code = (CRL_VALIDATION_CODES as unknown[]).includes(o.code) ? o.code as CrlValidationCode : undefined
    return code == null ? { t: 2, ok: o.ok } : { t: 2, ok: o.ok, code }
  }
  throw new RevokeError('MALFORMED_MESSAGE', 'unknown frame type')
}
