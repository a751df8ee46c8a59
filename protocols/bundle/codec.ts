import { encode } from 'cborg'
import { checkBundleId } from '../../src/dtn/bundle-id.ts'
import { MAX_SPRAY_COPIES } from '../../src/dtn/constants.ts'
import { isBundleErrorCode } from '../../src/dtn/errors.ts'
import { STORE_REFUSAL_CODES } from '../../src/dtn/store/bundle-records.ts'
import { decodeBounded } from '../../src/util/bounded-cbor.ts'
import { MAX_ACK_FRAME_BYTES, MAX_FRAME_BYTES, WIRE_VERSION } from './constants.ts'
import { BundleProtocolError } from './errors.ts'
import type { BundleId } from '../../src/dtn/bundle-id.ts'
import type { AckStatus } from '../../src/dtn/transfer-planner.ts'

/**
 * The frames of `/dadm-mesh/bundle/1.0.0`: CBOR maps (cborg, the mesh's one wire codec), each
 * sent length-prefixed (unsigned varint):
 *
 * - bundle `{ t: 1, v: 1, b: bstr (a BPv7 bundle), c: uint (spray-and-wait copies handed over) }`
 * - ack `{ t: 2, s: tstr, ct: uint, q: uint, o: uint, st: tstr, code?: tstr }`: the bundle's id
 * (source, created_at, sequence) and fragment offset, the status ("accepted" | "duplicate" |
 * "rejected") and, for a refusal, a bounded code
 *
 * Custody transfer: the receiver sends "accepted" only after its durable write of the bundle;
 * the sender releases its copy only after that ACK. The size is checked before decoding, the
 * shape by a token scan before objects are built, then every field.
 */

export interface BundleFrame { t: 1, v: number, b: Uint8Array, c: number }
export interface AckFrame { t: 2, id: BundleId, offset: number, status: AckStatus, code?: string }
export type Frame = BundleFrame | AckFrame

/** Codes an ACK may carry: the bundle's refusals, the store's, and a receiver's own trouble. */
const EXTRA_ACK_CODES = new Set<string>([...STORE_REFUSAL_CODES, 'INTERNAL'])

/** True for a code an ACK may carry (anything else is dropped, so logs stay bounded). */
export function isAckCode (s: unknown): s is string {
  return isBundleErrorCode(s) || (typeof s === 'string' && EXTRA_ACK_CODES.has(s))
}

/** Frames are flat maps of at most 7 entries. */
const MAX_TOKENS = 1 + 2 * 7

function malformed (what: string, cause?: unknown): BundleProtocolError {
  return new BundleProtocolError('MALFORMED_FRAME', what, cause == null ? undefined : { cause })
}

/** Encodes a frame; refuses one we would not accept ourselves. */
export function encodeFrame (frame: Frame, maxBytes = MAX_FRAME_BYTES): Uint8Array {
  const bytes = frame.t === 1
    ? encode({ t: 1, v: frame.v, b: frame.b, c: frame.c })
    : encode({
      t: 2,
      s: frame.id.source,
      ct: frame.id.createdAt,
      q: frame.id.sequence,
      o: frame.offset,
      st: frame.status,
      ...(frame.code == null ? {} : { code: frame.code })
    })
  const limit = frame.t === 1 ? maxBytes : MAX_ACK_FRAME_BYTES
  if (bytes.byteLength > limit) { throw new BundleProtocolError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${limit}`) }
  return bytes
}

/** Decodes one frame: size first, then shape, then every field. Bad ids are BundleError INVALID_ID. */
export function decodeFrame (bytes: Uint8Array, maxBytes = MAX_FRAME_BYTES): Frame {
  // [REJECT] over the limit: never decoded
  if (bytes.byteLength > maxBytes) { throw new BundleProtocolError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${maxBytes}`) }
  let value: unknown
  try {
    // A flat map: depth 1 (a nested non-empty container is refused while decoding), few items.
    value = decodeBounded(bytes, { maxDepth: 1, maxTokens: MAX_TOKENS })
  } catch (err) {
    throw malformed('frame is not strict CBOR', err)
  }
  if (value == null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) { throw malformed('frame is not a map') }
  const o = value as Record<string, unknown>
  if (o.t === 1) {
    checkKeys(o, ['t', 'v', 'b', 'c'])
    if (typeof o.v !== 'number') { throw malformed('bundle frame without a version') }
    if (o.v !== WIRE_VERSION) { throw new BundleProtocolError('UNSUPPORTED_VERSION', `wire version ${o.v} is not ${WIRE_VERSION}`) }
    if (!(o.b instanceof Uint8Array) || o.b.byteLength === 0) { throw malformed('bundle frame without bundle bytes') }
    if (!isUint(o.c) || o.c < 1 || o.c > MAX_SPRAY_COPIES) { throw malformed('bundle frame copy count out of range') }
    return { t: 1, v: o.v, b: o.b, c: o.c }
  }
  if (o.t === 2) {
    if (bytes.byteLength > MAX_ACK_FRAME_BYTES) { throw new BundleProtocolError('FRAME_TOO_LARGE', 'ACK frame too large') }
    checkKeys(o, ['t', 's', 'ct', 'q', 'o', 'st', 'code'])
    const id = checkBundleId({ source: o.s, createdAt: o.ct, sequence: o.q })
    if (!isUint(o.o)) { throw malformed('ACK fragment offset out of range') }
    if (o.st !== 'accepted' && o.st !== 'duplicate' && o.st !== 'rejected') { throw malformed('ACK status unknown') }
    const frame: AckFrame = { t: 2, id, offset: o.o, status: o.st }
    // A code we do not know is dropped, not echoed.
    if (o.st === 'rejected' && isAckCode(o.code)) { frame.code = o.code }
    return frame
  }
  throw malformed('unknown frame type')
}

function isUint (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function checkKeys (o: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) { throw malformed('unexpected field in frame') }
  }
}
