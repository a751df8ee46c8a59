import { hash } from 'node:crypto'
import { encode } from 'cborg'
import { isValidNodeId } from '../../src/pki/node-identity.ts'
import { decodeBounded } from '../../src/util/bounded-cbor.ts'
import {
  MAX_CERT_BYTES, MAX_CHAIN_LENGTH, MAX_IDENTITY_SIG_BYTES, MAX_ENVELOPE_BYTES, MAX_MESSAGE_ID_LENGTH, MAX_META_ENTRIES, MAX_META_KEY_LENGTH,
  MAX_META_VALUE_LENGTH, MAX_PAYLOAD_BYTES, MAX_TYPE_LENGTH, MAX_VALUE_BYTES, WIRE_VERSION
} from './constants.ts'
import { EnvelopeError } from './errors.ts'
import { readEnvelope, readPayload } from './fast-decode.ts'
import { ED25519_KEY_BYTES, ED25519_SIG_BYTES } from './origin-proof.ts'
import type { GossipDelegation } from './origin-proof.ts'

/**
 * The anomaly envelope on `/dadm-mesh/anomaly/1`, one CBOR map (cborg, the mesh's one wire codec):
 *
 * { v: 1, message_id: tstr, origin: tstr, timestamp: uint (ms), expiry: uint (ms),
 * payload: bstr (canonical CBOR of { type, value, meta? }), origin_cert: [bstr DER, ...] (leaf first),
 * delegation: { key: bstr 32, nbf: uint, exp: uint, sig: bstr }, sig: bstr 64 }
 *
 * The payload travels as a byte string: the mesh treats it as opaque, can cap its size before
 * looking inside, and checks its schema last (cheap checks first). `sig` is the origin's
 * signature (origin-proof.ts): its per-epoch gossip key signs (message_id, origin, payload digest,
 * timestamp, expiry), and `delegation` is its identity key's certificate of that gossip key. So
 * the envelope proves its origin by itself, wherever it travels and however long it is stored.
 * Sizes are checked before decoding, the nesting and item count while decoding (bounded-cbor.ts:
 * cborg has no depth limit of its own).
 */

/** Metadata values: short text, safe integers (scores in whole units), booleans; no floats, so one value has one encoding. */
export type MetaValue = string | number | boolean

/** What an anomaly signature says: a type tag, a value (hash, indicator, rule id) and a little metadata. */
export interface AnomalyPayload {
  type: string
  value: string
  meta?: Record<string, MetaValue>
}

export interface AnomalyEnvelope {
  v: number
  message_id: string
  origin: string
  /** Origin clock at publication, ms since the epoch. */
  timestamp: number
  /** Origin clock at which the signature stops being relevant, ms since the epoch. */
  expiry: number
  /** Canonical CBOR of an AnomalyPayload, decoded only by `decodePayload`. */
  payload: Uint8Array
  /** The origin's chain, leaf first, DER. */
  origin_cert: Uint8Array[]
  /** The origin identity key's delegation to the gossip key that made `sig`. */
  delegation: GossipDelegation
  /** The gossip key's Ed25519 signature over `originSigningInput` (origin-proof.ts). */
  sig: Uint8Array
}

/** An envelope before its origin signs it. */
export type UnsignedEnvelope = Omit<AnomalyEnvelope, 'sig'>

const ENVELOPE_KEYS = ['v', 'message_id', 'origin', 'timestamp', 'expiry', 'payload', 'origin_cert', 'delegation', 'sig']
const DELEGATION_KEYS = ['key', 'nbf', 'exp', 'sig']
/**
 * envelope map -> origin_cert array or delegation map -> bytes and integers; the map, its keys and
 * values, the certificates, the delegation's keys and values.
 */
export const ENVELOPE_LIMITS = { maxDepth: 2, maxTokens: 1 + 2 * ENVELOPE_KEYS.length + MAX_CHAIN_LENGTH + 2 * DELEGATION_KEYS.length }
/** payload map -> meta map -> scalar */
export const PAYLOAD_LIMITS = { maxDepth: 2, maxTokens: 1 + 2 * 3 + 2 * MAX_META_ENTRIES }

const SUFFIX = /^[A-Za-z0-9._-]+$/
const TYPE = new RegExp(`^[a-z][a-z0-9._-]{0,${MAX_TYPE_LENGTH - 1}}$`)
const META_KEY = new RegExp(`^[a-z][a-z0-9_]{0,${MAX_META_KEY_LENGTH - 1}}$`)
// C0 and C1 controls and DEL: a signature value is one line of text; multi-line text is what a log looks like.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

/** Encodes an envelope; refuses to produce one we would not accept ourselves. */
export function encodeEnvelope (envelope: AnomalyEnvelope): Uint8Array {
  checkEnvelope(envelope)
  const bytes = encode({
    v: envelope.v,
    message_id: envelope.message_id,
    origin: envelope.origin,
    timestamp: envelope.timestamp,
    expiry: envelope.expiry,
    payload: envelope.payload,
    origin_cert: envelope.origin_cert,
    delegation: { key: envelope.delegation.key, nbf: envelope.delegation.nbf, exp: envelope.delegation.exp, sig: envelope.delegation.sig },
    sig: envelope.sig
  })
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) { throw new EnvelopeError('TOO_LARGE', `envelope of ${bytes.byteLength} bytes exceeds ${MAX_ENVELOPE_BYTES}`) }
  return bytes
}

/**
 * Decodes an envelope: size first, then shape, then every field. Throws EnvelopeError.
 * `inPlace`: byte fields may be views of `bytes` (see readEnvelope), for callers that never change them.
 */
export function decodeEnvelope (bytes: Uint8Array, inPlace = false): AnomalyEnvelope {
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) { throw new EnvelopeError('TOO_LARGE', `envelope of ${bytes.byteLength} bytes exceeds ${MAX_ENVELOPE_BYTES}`) }
  // A current envelope takes the fast path; anything else is decoded generically for its precise code.
  const fast = readEnvelope(bytes, inPlace)
  if (fast !== undefined) {
    checkEnvelope(fast)
    return fast
  }
  let value: unknown
  try {
    value = decodeBounded(bytes, ENVELOPE_LIMITS)
  } catch (err) {
    throw new EnvelopeError('MALFORMED', 'envelope is not strict CBOR of the expected shape', { cause: err })
  }
  if (!isPlainMap(value)) { throw new EnvelopeError('MALFORMED', 'envelope is not a map') }
  // The version first: a future version may have other fields, and is ignored rather than punished.
  if (value.v !== WIRE_VERSION) {
    if (typeof value.v === 'number' && Number.isSafeInteger(value.v) && value.v > WIRE_VERSION) {
      throw new EnvelopeError('UNSUPPORTED_VERSION', `envelope version ${value.v} is not ${WIRE_VERSION}`)
    }
    throw new EnvelopeError('MALFORMED', 'envelope has no valid version')
  }
  for (const key of Object.keys(value)) {
    if (!ENVELOPE_KEYS.includes(key)) { throw new EnvelopeError('MALFORMED', `unexpected envelope field ${JSON.stringify(key.slice(0, 16))}`) }
  }
  const envelope = value as unknown as AnomalyEnvelope
  checkEnvelope(envelope)
  return envelope
}

function checkEnvelope (e: AnomalyEnvelope): void {
  if (typeof e.origin !== 'string' || !isValidNodeId(e.origin)) { throw new EnvelopeError('MALFORMED', 'origin is not a node_id') }
  if (typeof e.message_id !== 'string') { throw new EnvelopeError('MALFORMED', 'message_id is not text') }
  if (!isValidMessageId(e.message_id, e.origin)) { throw new EnvelopeError('BAD_MESSAGE_ID', 'message_id is not <origin>:<suffix>') }
  if (!isTime(e.timestamp) || !isTime(e.expiry)) { throw new EnvelopeError('MALFORMED', 'timestamp and expiry must be non-negative integer milliseconds') }
  if (!(e.payload instanceof Uint8Array)) { throw new EnvelopeError('MALFORMED', 'payload is not a byte string') }
  if (e.payload.byteLength > MAX_PAYLOAD_BYTES) { throw new EnvelopeError('PAYLOAD_TOO_LARGE', `payload of ${e.payload.byteLength} bytes exceeds ${MAX_PAYLOAD_BYTES}`) }
  const chain = e.origin_cert
  if (!Array.isArray(chain) || chain.length < 1 || chain.length > MAX_CHAIN_LENGTH) { throw new EnvelopeError('MALFORMED', `origin_cert must hold 1 to ${MAX_CHAIN_LENGTH} certificates`) }
  for (const c of chain) {
    if (!(c instanceof Uint8Array) || c.byteLength === 0 || c.byteLength > MAX_CERT_BYTES) { throw new EnvelopeError('MALFORMED', 'origin_cert holds something other than DER bytes') }
  }
  checkDelegation(e.delegation)
  if (!(e.sig instanceof Uint8Array) || e.sig.byteLength !== ED25519_SIG_BYTES) { throw new EnvelopeError('MALFORMED', `sig must be ${ED25519_SIG_BYTES} bytes`) }
}

/** The delegation's shape only; what it says is the validator's business. */
function checkDelegation (d: unknown): void {
  if (!isPlainMap(d)) { throw new EnvelopeError('MALFORMED', 'delegation is not a map') }
  for (const key of Object.keys(d)) {
    if (!DELEGATION_KEYS.includes(key)) { throw new EnvelopeError('MALFORMED', `unexpected delegation field ${JSON.stringify(key.slice(0, 16))}`) }
  }
  if (!(d.key instanceof Uint8Array) || d.key.byteLength !== ED25519_KEY_BYTES) { throw new EnvelopeError('MALFORMED', `delegation key must be ${ED25519_KEY_BYTES} bytes`) }
  if (!isTime(d.nbf) || !isTime(d.exp)) { throw new EnvelopeError('MALFORMED', 'delegation nbf and exp must be non-negative integer milliseconds') }
  if (!(d.sig instanceof Uint8Array) || d.sig.byteLength === 0 || d.sig.byteLength > MAX_IDENTITY_SIG_BYTES) { throw new EnvelopeError('MALFORMED', 'delegation sig is not a signature') }
}

/** True for `<origin>:<suffix>` in the allowed alphabet and length. */
export function isValidMessageId (id: string, origin: string): boolean {
  return id.length <= MAX_MESSAGE_ID_LENGTH && id.length > origin.length + 1 && id.startsWith(origin) &&
    id.charCodeAt(origin.length) === 0x3a && SUFFIX.test(id.slice(origin.length + 1))
}

/** Encodes a payload canonically after checking its schema. Throws EnvelopeError. */
export function encodePayload (payload: AnomalyPayload): Uint8Array {
  const clean = checkPayload(payload)
  const bytes = encode(clean)
  if (bytes.byteLength > MAX_PAYLOAD_BYTES) { throw new EnvelopeError('PAYLOAD_TOO_LARGE', `payload of ${bytes.byteLength} bytes exceeds ${MAX_PAYLOAD_BYTES}`) }
  return bytes
}

/**
 * Decodes a payload and checks its schema. The bytes must be the canonical encoding (cborg's
 * deterministic form), so one payload has one byte form and equal bytes mean equal content:
 * strict decoding already refuses non-minimal integers and lengths, the schema has no floats,
 * so what is left to check is the map key order (length first, then bytewise: RFC 7049 §3.9,
 * cborg's default) - much cheaper than encoding again and comparing.
 */
export function decodePayload (bytes: Uint8Array): AnomalyPayload {
  if (bytes.byteLength > MAX_PAYLOAD_BYTES) { throw new EnvelopeError('PAYLOAD_TOO_LARGE', `payload of ${bytes.byteLength} bytes exceeds ${MAX_PAYLOAD_BYTES}`) }
  // A plain payload takes the fast path; anything else is decoded generically for its precise code.
  let value: unknown = readPayload(bytes)
  if (value === undefined) {
    try {
      value = decodeBounded(bytes, PAYLOAD_LIMITS)
    } catch (err) {
      throw new EnvelopeError('BAD_PAYLOAD', 'payload is not strict CBOR of the expected shape', { cause: err })
    }
  }
  const payload = checkPayload(value)
  if (!canonicalKeys(value as Record<string, unknown>) || (payload.meta != null && !canonicalKeys(payload.meta))) {
    throw new EnvelopeError('BAD_PAYLOAD', 'payload is not canonically encoded')
  }
  return payload
}

function checkPayload (value: unknown): AnomalyPayload {
  if (!isPlainMap(value)) { throw new EnvelopeError('BAD_PAYLOAD', 'payload is not a map') }
  for (const key of Object.keys(value)) {
    if (key !== 'type' && key !== 'value' && key !== 'meta') { throw new EnvelopeError('BAD_PAYLOAD', `unexpected payload field ${JSON.stringify(key.slice(0, 16))}`) }
  }
  const { type, value: v, meta } = value
  if (typeof type !== 'string' || !TYPE.test(type)) { throw new EnvelopeError('BAD_PAYLOAD', 'payload type must be a short lower-case tag') }
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v, 'utf8') > MAX_VALUE_BYTES || CONTROL.test(v)) {
    throw new EnvelopeError('BAD_PAYLOAD', `payload value must be one line of 1 to ${MAX_VALUE_BYTES} bytes`)
  }
  if (meta === undefined) { return { type, value: v } }
  if (!isPlainMap(meta)) { throw new EnvelopeError('BAD_PAYLOAD', 'payload meta is not a map') }
  const entries = Object.entries(meta)
  if (entries.length > MAX_META_ENTRIES) { throw new EnvelopeError('BAD_PAYLOAD', `payload meta has more than ${MAX_META_ENTRIES} entries`) }
  const out: Record<string, MetaValue> = {}
  for (const [k, m] of entries) {
    if (!META_KEY.test(k)) { throw new EnvelopeError('BAD_PAYLOAD', 'payload meta key must be a short lower-case name') }
    const ok = typeof m === 'boolean' ||
      (typeof m === 'number' && Number.isSafeInteger(m)) ||
      (typeof m === 'string' && m.length <= MAX_META_VALUE_LENGTH && !CONTROL.test(m))
    if (!ok) { throw new EnvelopeError('BAD_PAYLOAD', `payload meta ${k} must be a boolean, a safe integer or a short line of text`) }
    out[k] = m
  }
  return { type, value: v, meta: out }
}

/**
 * What "the same message" means for deduplication: SHA-256 (hex) over message_id, origin,
 * timestamp, expiry and the payload bytes. The chain is left out on purpose: the origin may resend
 * a message with a renewed certificate, and that is still the same message. The framing is
 * unambiguous without a length prefix: the first four fields cannot hold a newline (checked
 * alphabets, integers) and the payload comes last. One-shot hash over one buffer: this runs
 * for every anomaly message (gossipsub's msgIdFn covers it), and a createHash object costs more
 * than hashing a few hundred bytes.
 */
export function envelopeDigest (e: AnomalyEnvelope | Pick<AnomalyEnvelope, 'message_id' | 'origin' | 'timestamp' | 'expiry' | 'payload'>): string {
  const head = `${e.message_id}\n${e.origin}\n${e.timestamp}\n${e.expiry}\n`
  const buf = Buffer.allocUnsafe(Buffer.byteLength(head) + e.payload.byteLength)
  const n = buf.write(head, 0, 'utf8')
  buf.set(e.payload, n)
  return hash('sha256', buf, 'hex')
}

function isPlainMap (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function isTime (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Keys in canonical order: shorter first, then bytewise (our keys are ASCII, so code units compare as bytes). */
function canonicalKeys (o: Record<string, unknown>): boolean {
  const keys = Object.keys(o) // insertion order: the order in which the decoder met them
  for (let i = 1; i < keys.length; i++) {
    const a = keys[i - 1]
    const b = keys[i]
    if (a.length > b.length || (a.length === b.length && a >= b)) { return false }
  }
  return true
}
