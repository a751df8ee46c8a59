import { Tokenizer, Type } from 'cborg'
import { DECODE_OPTIONS } from '../../src/util/bounded-cbor.ts'
import { MAX_CHAIN_LENGTH, MAX_META_ENTRIES, WIRE_VERSION } from './constants.ts'
import type { AnomalyEnvelope } from './codec.ts'
import type { GossipDelegation } from './origin-proof.ts'

/**
 * The fast path of decoding an envelope and its payload: cborg's strict tokenizer walked along
 * the one shape each has, every field assigned as it is read. The generic path (`decodeBounded`,
 * then the shape checks) builds objects key by key through cborg's `tokensToObject`, behind a
 * counting tokenizer; on a 1.5 KiB envelope that was the largest part of the validator's cost
 * besides the signature, on every gossip message.
 *
 * A reader only ever accepts: it returns undefined at the first token that does not fit (another
 * version, a missing, unknown or repeated key, a wrong type, trailing bytes, anything the
 * tokenizer refuses), and the caller then decodes generically, which gives the precise refusal
 * code. So every refusal and every code stays the generic path's, and what a reader accepts the
 * generic path decodes to the same value (a payload's keys in the same order, which the canonical
 * check reads; an envelope's in a fixed one, which nothing reads): the same strict tokenizer, the
 * same nesting within the same bounds (MAX_CHAIN_LENGTH certificates, MAX_META_ENTRIES metadata
 * entries, each key once, nothing after the top-level map). The callers run the same field checks
 * on either result.
 */

const UINT = Type.uint.major
const BYTES = Type.bytes.major
const STRING = Type.string.major
const ARRAY = Type.array.major
const MAP = Type.map.major
const NEGINT = Type.negint.major
const SIMPLE = Type.true.major

/**
 * Every field of an envelope, or undefined when the bytes are not plainly a current envelope.
 *
 * `inPlace`: the byte fields (payload, certificates, keys, signatures) are views of `bytes`
 * instead of copies, for a caller that never changes `bytes` (gossipsub's message data, which it
 * also keeps to forward and to answer IWANT): six fewer allocations per message, and less garbage.
 * cborg copies a byte string with `data.slice`, which on a Buffer is a view; a test fails if that
 * stops being so (the result would still be correct, only copied), and package.json pins cborg
 * to patch releases for it.
 */
export function readEnvelope (bytes: Uint8Array, inPlace = false): AnomalyEnvelope | undefined {
  try {
    return read(new Tokenizer(inPlace ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes, DECODE_OPTIONS))
  } catch {
    return undefined
  }
}

function read (t: Tokenizer): AnomalyEnvelope | undefined {
  const head = next(t)
  if (head?.type.major !== MAP || head.value !== 9) { return undefined }
  let v, messageId, origin, timestamp, expiry, payload, chain, delegation, sig
  for (let i = 0; i < 9; i++) {
    const key = next(t)
    if (key?.type.major !== STRING) { return undefined }
    switch (key.value) {
      case 'v': if (v !== undefined || (v = uint(t)) !== WIRE_VERSION) { return undefined } break
      case 'message_id': if (messageId !== undefined || (messageId = text(t)) === undefined) { return undefined } break
      case 'origin': if (origin !== undefined || (origin = text(t)) === undefined) { return undefined } break
      case 'timestamp': if (timestamp !== undefined || (timestamp = uint(t)) === undefined) { return undefined } break
      case 'expiry': if (expiry !== undefined || (expiry = uint(t)) === undefined) { return undefined } break
      case 'payload': if (payload !== undefined || (payload = bytesOf(t)) === undefined) { return undefined } break
      case 'origin_cert': if (chain !== undefined || (chain = certificates(t)) === undefined) { return undefined } break
      case 'delegation': if (delegation !== undefined || (delegation = readDelegation(t)) === undefined) { return undefined } break
      case 'sig': if (sig !== undefined || (sig = bytesOf(t)) === undefined) { return undefined } break
      default: return undefined
    }
  }
  if (!t.done()) { return undefined }
  // Nine distinct known keys were read, so every field is set.
  return { v: v as number, message_id: messageId as string, origin: origin as string, timestamp: timestamp as number, expiry: expiry as number, payload: payload as Uint8Array, origin_cert: chain as Uint8Array[], delegation: delegation as GossipDelegation, sig: sig as Uint8Array }
}

/** A payload map as the generic decoder returns it (keys in wire order), or undefined when it does not plainly fit. */
export function readPayload (bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const t = new Tokenizer(bytes, DECODE_OPTIONS)
    const head = next(t)
    if (head?.type.major !== MAP || head.value < 2 || head.value > 3) { return undefined }
    const out: Record<string, unknown> = {}
    for (let i = 0; i < head.value; i++) {
      const key = next(t)
      if (key?.type.major !== STRING || Object.hasOwn(out, key.value)) { return undefined }
      let value
      if (key.value === 'type' || key.value === 'value') {
        value = text(t)
      } else if (key.value === 'meta') {
        value = meta(t)
      }
      if (value === undefined) { return undefined }
      out[key.value] = value
    }
    return t.done() ? out : undefined
  } catch {
    return undefined
  }
}

/** Metadata: text keys, each once, to text, integers or booleans. */
function meta (t: Tokenizer): Record<string, unknown> | undefined {
  const head = next(t)
  if (head?.type.major !== MAP || head.value > MAX_META_ENTRIES) { return undefined }
  const out: Record<string, unknown> = {}
  for (let i = 0; i < head.value; i++) {
    const key = next(t)
    // __proto__ would set the prototype rather than a field; the generic path handles it.
    if (key?.type.major !== STRING || key.value === '__proto__' || Object.hasOwn(out, key.value)) { return undefined }
    const tok = next(t)
    if (tok == null) { return undefined }
    const major = tok.type.major
    const ok = major === STRING || ((major === UINT || major === NEGINT) && typeof tok.value === 'number') || (major === SIMPLE && typeof tok.value === 'boolean')
    if (!ok) { return undefined }
    out[key.value] = tok.value
  }
  return out
}

function readDelegation (t: Tokenizer): GossipDelegation | undefined {
  const head = next(t)
  if (head?.type.major !== MAP || head.value !== 4) { return undefined }
  let key, nbf, exp, sig
  for (let i = 0; i < 4; i++) {
    const k = next(t)
    if (k?.type.major !== STRING) { return undefined }
    switch (k.value) {
      case 'key': if (key !== undefined || (key = bytesOf(t)) === undefined) { return undefined } break
      case 'nbf': if (nbf !== undefined || (nbf = uint(t)) === undefined) { return undefined } break
      case 'exp': if (exp !== undefined || (exp = uint(t)) === undefined) { return undefined } break
      case 'sig': if (sig !== undefined || (sig = bytesOf(t)) === undefined) { return undefined } break
      default: return undefined
    }
  }
  return { key: key as Uint8Array, nbf: nbf as number, exp: exp as number, sig: sig as Uint8Array }
}

function certificates (t: Tokenizer): Uint8Array[] | undefined {
  const head = next(t)
  if (head?.type.major !== ARRAY || head.value > MAX_CHAIN_LENGTH) { return undefined }
  const out: Uint8Array[] = []
  for (let i = 0; i < head.value; i++) {
    const c = bytesOf(t)
    if (c === undefined) { return undefined }
    out.push(c)
  }
  return out
}

function next (t: Tokenizer): ReturnType<Tokenizer['next']> | undefined {
  return t.done() ? undefined : t.next()
}

function uint (t: Tokenizer): number | undefined {
  const tok = next(t)
  return tok?.type.major === UINT && typeof tok.value === 'number' ? tok.value : undefined
}

function text (t: Tokenizer): string | undefined {
  const tok = next(t)
  return tok?.type.major === STRING ? tok.value : undefined
}

function bytesOf (t: Tokenizer): Uint8Array | undefined {
  const tok = next(t)
  if (tok?.type.major !== BYTES) { return undefined }
  const b: Uint8Array = tok.value
  // A plain Uint8Array over the same memory, whether cborg gave a copy or (inPlace) a Buffer view.
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}
