import { encode } from 'cborg'
import { MAX_NONCE_BYTES, MIN_NONCE_BYTES } from '../../src/attestation/evidence.ts'
import { decodeBounded } from '../../src/util/bounded-cbor.ts'
import { MAX_FRAME_BYTES, WIRE_VERSION } from './constants.ts'
import { AttestProtocolError, isAttestFailureCode } from './errors.ts'
import type { AttestFailureCode } from './errors.ts'
import type { PcrBank } from '../../src/attestation/tpm-reader.ts'

/*
 * The four frames of `/dadm-mesh/attest/1.0.0`, CBOR maps (cborg, the mesh's one wire codec),
 * each length-prefixed (unsigned varint) on the attest stream, which the verifier opens:
 *
 *   challenge { t: 1, v: 1, nonce: bstr(16-64), bank: tstr, pcrs: [uint 0-23, ...] }   verifier -> prover
 *   evidence  { t: 2, ev: { type, ak_public, ek_public?, quote, signature, pcrs, nonce } }   prover -> verifier
 *   refusal   { t: 3, code: tstr }          the prover will not or cannot answer (RATE_LIMITED, PROVER_FAILED)
 *   verdict   { t: 4, ok: bool, code?: tstr }   what the verifier concluded (informational, best effort)
 *
 * Size is checked before decoding (and, earlier, from the length prefix), the nesting depth and
 * item count by a token scan before objects are built, then every field for type and size. The
 * evidence map is only shape-checked here: `parseEvidence` (inside the verifier) bounds its fields.
 */

export interface ChallengeFrame { t: 1, v: number, nonce: Uint8Array, bank: PcrBank, pcrs: number[] }
export interface EvidenceFrame { t: 2, ev: Record<string, unknown> }
export interface RefusalFrame { t: 3, code: AttestFailureCode | 'UNKNOWN' }
export interface VerdictFrame { t: 4, ok: boolean, code?: AttestFailureCode }
export type AttestFrame = ChallengeFrame | EvidenceFrame | RefusalFrame | VerdictFrame

/** frame map -> ev map -> pcrs map -> values map. */
const MAX_DEPTH = 4
/** 24 PCR values (48 tokens) plus every other field, with room to spare. */
const MAX_TOKENS = 128
const BANKS: readonly PcrBank[] = ['sha1', 'sha256', 'sha384', 'sha512']

/** Encodes a frame; refuses to produce one we would not accept ourselves. */
export function encodeFrame (frame: AttestFrame): Uint8Array {
  const bytes = encode(frame.t === 4 && frame.code == null ? { t: 4, ok: frame.ok } : frame)
  if (bytes.byteLength > MAX_FRAME_BYTES) {
    throw new AttestProtocolError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
  }
  return bytes
}

/** Decodes one frame, checking size first, then shape, then every field. */
export function decodeFrame (bytes: Uint8Array): AttestFrame {
  if (bytes.byteLength > MAX_FRAME_BYTES) {
    throw new AttestProtocolError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
  }
  let value: unknown
  try {
    // Depth and item count are bounded while decoding, before any object is built.
    value = decodeBounded(bytes, { maxDepth: MAX_DEPTH, maxTokens: MAX_TOKENS })
  } catch (err) {
    throw new AttestProtocolError('MALFORMED_MESSAGE', 'frame is not strict CBOR within its shape limits', { cause: err })
  }
  return checkFrame(value)
}

function malformed (what: string): AttestProtocolError {
  return new AttestProtocolError('MALFORMED_MESSAGE', what)
}

function isMap (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function checkKeys (o: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) { throw malformed(`unexpected field ${JSON.stringify(key.slice(0, 16))}`) }
  }
}

function checkFrame (value: unknown): AttestFrame {
  if (!isMap(value)) { throw malformed('frame is not a map') }
  const o = value
  switch (o.t) {
    case 1: {
      checkKeys(o, ['t', 'v', 'nonce', 'bank', 'pcrs'])
      if (typeof o.v !== 'number' || !Number.isInteger(o.v)) { throw malformed('challenge without a version') }
      if (o.v !== WIRE_VERSION) { throw new AttestProtocolError('UNSUPPORTED_VERSION', `wire version ${o.v} is not ${WIRE_VERSION}`) }
      if (!(o.nonce instanceof Uint8Array) || o.nonce.byteLength < MIN_NONCE_BYTES || o.nonce.byteLength > MAX_NONCE_BYTES) { throw malformed('challenge nonce is not 16-64 bytes') }
      if (typeof o.bank !== 'string' || !BANKS.includes(o.bank as PcrBank)) { throw malformed('challenge names no PCR bank') }
      const pcrs = o.pcrs
      if (!Array.isArray(pcrs) || pcrs.length === 0 || pcrs.length > 24 || !pcrs.every(i => Number.isSafeInteger(i) && i >= 0 && i <= 23)) {
        throw malformed('challenge PCR selection is not 1-24 indexes 0-23')
      }
      return { t: 1, v: o.v, nonce: o.nonce, bank: o.bank as PcrBank, pcrs: pcrs as number[] }
    }
    case 2:
      checkKeys(o, ['t', 'ev'])
      if (!isMap(o.ev)) { throw malformed('evidence frame without an evidence map') }
      return { t: 2, ev: o.ev }
    case 3:
      checkKeys(o, ['t', 'code'])
      // A code we do not know is not echoed: logs must stay bounded.
      return { t: 3, code: isAttestFailureCode(o.code) ? o.code : 'UNKNOWN' }
    case 4: {
      checkKeys(o, ['t', 'ok', 'code'])
      if (typeof o.ok !== 'boolean') { throw malformed('verdict without ok') }
      return isAttestFailureCode(o.code) ? { t: 4, ok: o.ok, code: o.code } : { t: 4, ok: o.ok }
    }
    default:
      throw malformed('unknown frame type')
  }
}
