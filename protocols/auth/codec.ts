import { encode } from 'cborg'
import { decodeBounded } from '../../src/util/bounded-cbor.ts'
import { cborHead, MAJOR_BYTES } from '../../src/util/cbor-heads.ts'
import { readCanonicalFrame } from './canonical-frame.ts'
import { MAX_CERT_BYTES, MAX_CHAIN_LENGTH, MAX_FRAME_BYTES, MAX_SIGNATURE_BYTES, NONCE_BYTES, WIRE_VERSION } from './constants.ts'
import { AuthError, isAuthErrorCode } from './errors.ts'
import type { AuthErrorCode } from './errors.ts'

/*
 * The three frame types of `/dadm-mesh/auth/1.0.0`, CBOR maps (cborg, the mesh's one wire codec),
 * each sent length-prefixed (unsigned varint) on the auth stream:
 *
 *   hello   { t: 1, v: 2, nonce: bstr(32), chain?: [bstr DER, ...] }
 *           the opener's carries no chain (it discloses nothing before the peer has proved
 *           itself); the responder's carries its chain (leaf first, no self-signed root)
 *   proof   { t: 2, sig: bstr, chain?: [bstr DER, ...] }
 *           signature over the transcript; the opener's carries its chain, the responder's none
 *   verdict { t: 3, ok: bool, code?: tstr }     what the sender concluded about the receiver
 *
 * Which frame must carry a chain is the exchange's rule (exchange.ts), checked there, so that a
 * frame in the wrong shape is refused with a verdict the peer hears. The size is checked before
 * decoding (here and, earlier, from the length prefix), the nesting depth is checked by a token
 * scan before objects are built (cborg itself has no depth limit), and every field is checked
 * for type and size after.
 */

/** A fresh nonce, and the responder's chain (leaf first). */
export interface HelloFrame { t: 1, v: number, nonce: Uint8Array, chain?: Uint8Array[] }
/** A signature over the transcript, and the opener's chain. */
export interface ProofFrame { t: 2, sig: Uint8Array, chain?: Uint8Array[] }
/** What the sender concluded about the receiver. */
export interface VerdictFrame { t: 3, ok: boolean, code?: AuthErrorCode }
export type AuthFrame = HelloFrame | ProofFrame | VerdictFrame

const FRAME_HELLO = 1
const FRAME_PROOF = 2
const FRAME_VERDICT = 3

/** Our frames are a map holding at most an array of byte strings: depth 2. */
const MAX_DEPTH = 2
/** Tokens in the largest legal frame: 1 map + 4 keys + 4 values + chain items (a proof has fewer). */
const MAX_TOKENS = 16 + MAX_CHAIN_LENGTH

/** {t: 3, ok: true}: the same bytes on every successful exchange. */
const VERDICT_OK = encode({ t: FRAME_VERDICT, ok: true })

/** Encodes a frame; refuses to produce one we would not accept ourselves. */
export function encodeFrame (frame: AuthFrame): Uint8Array {
  if (frame.t === FRAME_VERDICT && frame.ok && frame.code == null) { return VERDICT_OK.slice() }
  const bytes = encode(frame.t === FRAME_VERDICT && frame.code == null ? { t: frame.t, ok: frame.ok } : frame)
  if (bytes.byteLength > MAX_FRAME_BYTES) {
    throw new AuthError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
  }
  return bytes
}

/**
 * Encoded hellos per chain, with a zero nonce. In canonical CBOR key order (length first: t, v,
 * chain, nonce) the nonce is the last value, a 32-byte string, so a hello is its template with
 * the last NONCE_BYTES replaced: no CBOR encoding of the chain on every dial (the chain array is
 * the same until the credentials rotate).
 */
const helloTemplates = new WeakMap<Uint8Array[], Uint8Array>()

/** The responder's hello: `encodeFrame({ t: 1, v: WIRE_VERSION, chain, nonce })`, from a per-chain template. */
export function encodeHello (chain: Uint8Array[], nonce: Uint8Array): Uint8Array {
  if (nonce.byteLength !== NONCE_BYTES) { throw new AuthError('MALFORMED_MESSAGE', `hello nonce is not ${NONCE_BYTES} bytes`) }
  let template = helloTemplates.get(chain)
  if (template == null) {
    template = encodeFrame({ t: FRAME_HELLO, v: WIRE_VERSION, chain, nonce: new Uint8Array(NONCE_BYTES) })
    helloTemplates.set(chain, template)
  }
  return withNonce(template, nonce) ?? encodeFrame({ t: FRAME_HELLO, v: WIRE_VERSION, chain, nonce })
}

/** The opener's hello {t, v, nonce} with a zero nonce; the nonce is its last value too. */
const OPENING_TEMPLATE = encode({ t: FRAME_HELLO, v: WIRE_VERSION, nonce: new Uint8Array(NONCE_BYTES) })

/** The opener's hello, `encodeFrame({ t: 1, v: WIRE_VERSION, nonce })`: no chain, nothing about us but a nonce. */
export function encodeOpening (nonce: Uint8Array): Uint8Array {
  if (nonce.byteLength !== NONCE_BYTES) { throw new AuthError('MALFORMED_MESSAGE', `hello nonce is not ${NONCE_BYTES} bytes`) }
  return withNonce(OPENING_TEMPLATE, nonce) ?? encodeFrame({ t: FRAME_HELLO, v: WIRE_VERSION, nonce })
}

/** `template` with its trailing 32-byte string replaced by `nonce`, or null if it does not end in one. */
function withNonce (template: Uint8Array, nonce: Uint8Array): Uint8Array | null {
  const end = template.byteLength - NONCE_BYTES
  // bstr(32) header right before the nonce; anything else means the key order is not what we think.
  if (template[end - 2] !== 0x58 || template[end - 1] !== NONCE_BYTES) { return null }
  const out = template.slice()
  out.set(nonce, end)
  return out
}

/** The head of a proof frame up to its signature: map(n), "t", 2, "sig" (canonical key order). */
const PROOF_HEAD = Uint8Array.of(0xa2, 0x61, 0x74, FRAME_PROOF, 0x63, 0x73, 0x69, 0x67)
const PROOF_WITH_CHAIN_HEAD = Uint8Array.of(0xa3, 0x61, 0x74, FRAME_PROOF, 0x63, 0x73, 0x69, 0x67)

/** `"chain": [bstr, ...]` per chain array: the tail of the opener's proof (chain sorts after sig). */
const chainTails = new WeakMap<Uint8Array[], Uint8Array>()

function chainTail (chain: Uint8Array[]): Uint8Array {
  let tail = chainTails.get(chain)
  if (tail == null) {
    tail = Buffer.concat([encode('chain'), encode(chain)])
    chainTails.set(chain, tail)
  }
  return tail
}

/**
 * `encodeFrame({ t: 2, sig, chain? })`, written directly: it is on both sides' dial path. Only
 * our own signer's output gets here, so a signature the peer could not accept is our fault.
 */
export function encodeProof (sig: Uint8Array, chain?: Uint8Array[]): Uint8Array {
  if (sig.byteLength === 0 || sig.byteLength > MAX_SIGNATURE_BYTES) { throw new AuthError('LOCAL_CREDENTIALS', `our signer made a ${sig.byteLength}-byte signature`) }
  if (chain == null) { return Buffer.concat([PROOF_HEAD, cborHead(MAJOR_BYTES, sig.byteLength), sig]) }
  const bytes = Buffer.concat([PROOF_WITH_CHAIN_HEAD, cborHead(MAJOR_BYTES, sig.byteLength), sig, chainTail(chain)])
  if (bytes.byteLength > MAX_FRAME_BYTES) {
    throw new AuthError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
  }
  return bytes
}

/**
 * Decodes one frame, checking size first, then depth, then every field. Frames in exactly the
 * form we write take a fast path (canonical-frame.ts); the field checks are the same.
 */
export function decodeFrame (bytes: Uint8Array): AuthFrame {
  if (bytes.byteLength > MAX_FRAME_BYTES) {
    throw new AuthError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
  }
  let value: unknown = readCanonicalFrame(bytes)
  if (value == null) {
    try {
      // Depth and item count are bounded while decoding, before any object is built.
      value = decodeBounded(bytes, { maxDepth: MAX_DEPTH, maxTokens: MAX_TOKENS })
    } catch (err: any) {
      throw new AuthError('MALFORMED_MESSAGE', 'frame is not strict CBOR within its shape limits', {}, { cause: err })
    }
  }
  return checkFrame(value)
}

function isBytes (v: unknown, min: number, max: number): v is Uint8Array {
  return v instanceof Uint8Array && v.byteLength >= min && v.byteLength <= max
}

function malformed (what: string): AuthError {
  return new AuthError('MALFORMED_MESSAGE', what)
}

function checkKeys (o: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) { throw malformed(`unexpected field ${JSON.stringify(key.slice(0, 16))}`) }
  }
}

function checkChain (chain: unknown): Uint8Array[] {
  if (!Array.isArray(chain) || chain.length > MAX_CHAIN_LENGTH) { throw malformed('chain is not an array of at most 4 certificates') }
  if (!chain.every(c => isBytes(c, 1, MAX_CERT_BYTES))) { throw malformed('chain holds something other than DER bytes') }
  return chain
}

function checkFrame (value: unknown): AuthFrame {
  if (value == null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw malformed('frame is not a map')
  }
  const o = value as Record<string, unknown>
  switch (o.t) {
    case FRAME_HELLO: {
      checkKeys(o, ['t', 'v', 'chain', 'nonce'])
      if (typeof o.v !== 'number' || !Number.isInteger(o.v)) { throw malformed('hello without a version') }
      if (o.v !== WIRE_VERSION) { throw new AuthError('UNSUPPORTED_VERSION', `wire version ${o.v} is not ${WIRE_VERSION}`) }
      if (!isBytes(o.nonce, NONCE_BYTES, NONCE_BYTES)) { throw malformed(`hello nonce is not ${NONCE_BYTES} bytes`) }
      return o.chain === undefined ? { t: 1, v: o.v, nonce: o.nonce } : { t: 1, v: o.v, nonce: o.nonce, chain: checkChain(o.chain) }
    }
    case FRAME_PROOF:
      checkKeys(o, ['t', 'sig', 'chain'])
      if (!isBytes(o.sig, 1, MAX_SIGNATURE_BYTES)) { throw malformed('proof signature missing or too long') }
      return o.chain === undefined ? { t: 2, sig: o.sig } : { t: 2, sig: o.sig, chain: checkChain(o.chain) }
    case FRAME_VERDICT: {
      checkKeys(o, ['t', 'ok', 'code'])
      if (typeof o.ok !== 'boolean') { throw malformed('verdict without ok') }
      // A code we do not know is dropped, not echoed: logs must stay bounded.
      const code = isAuthErrorCode(o.code) ? o.code : undefined
      return code == null ? { t: 3, ok: o.ok } : { t: 3, ok: o.ok, code }
    }
    default:
      throw malformed('unknown frame type')
  }
}
