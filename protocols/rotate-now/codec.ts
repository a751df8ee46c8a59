import { createHash } from 'node:crypto'
import { encode } from 'cborg'
import { isValidNodeId } from '../../src/pki/node-identity.ts'
import { decodeBounded } from '../../src/util/bounded-cbor.ts'
import { MAX_CERT_BYTES, MAX_CERTS, MAX_NOTICE_BYTES, MAX_TARGETS, NOTICE_LABEL, WIRE_VERSION } from './constants.ts'
import { NoticeError } from './errors.ts'

/*
 * A CA-signed mesh notice, CBOR (cborg, the mesh's one wire codec). The envelope carries the body
 * as bytes, so the signature covers exactly what was signed, whatever a relay's encoder does:
 *
 *   envelope { v: 1, body: bstr, sig: bstr, signer: [bstr DER, ...] }   signer cert first
 *   body     { v: 1, kind: tstr, seq: uint, iat: uint, exp: uint,
 *              targets?: [tstr] (rotate-now: node_ids; absent = every node),
 *              roots?: [bstr], cas?: [bstr] (trust-bundle: the roots to trust, their issuing CAs) }
 *
 * sig = the signer key's signature (X.509 encoding) over CBOR [NOTICE_LABEL, body bytes]. Times
 * are ms since the epoch; `seq` rises with every notice a CA issues (CaStore.nextNoticeSequence).
 */

export type NoticeKind = 'rotate-now' | 'trust-bundle'
export const NOTICE_KINDS: readonly NoticeKind[] = ['rotate-now', 'trust-bundle']

export interface NoticeBody {
  v: number
  kind: NoticeKind
  seq: number
  /** Issued at, ms: a rotate-now concerns certificates issued before this instant. */
  iat: number
  /** Expires at, ms: nodes drop (and stop forwarding) the notice after it. */
  exp: number
  targets?: string[]
  roots?: Uint8Array[]
  cas?: Uint8Array[]
}

export interface NoticeEnvelope {
  v: number
  body: Uint8Array
  sig: Uint8Array
  /** The signer's certificate first, then (optionally) its chain towards a root. */
  signer: Uint8Array[]
}

/** A decoded notice: the envelope's parts, the parsed body and a digest that names it. */
export interface DecodedNotice extends NoticeEnvelope {
  notice: NoticeBody
  /** SHA-256 of the encoded envelope, hex: the seen-cache key. */
  digest: string
  /** The encoded envelope, to forward as received. */
  bytes: Uint8Array
}

const ENVELOPE_LIMITS = { maxDepth: 2, maxTokens: 16 + MAX_CERTS }
const BODY_LIMITS = { maxDepth: 2, maxTokens: 20 + MAX_TARGETS + 2 * MAX_CERTS }

/** The bytes the CA signs for a body. */
export function signedBytes (body: Uint8Array): Uint8Array {
  return encode([NOTICE_LABEL, body])
}

/** Encodes a body after checking it is one we would accept. */
export function encodeNoticeBody (body: NoticeBody): Uint8Array {
  const bytes = encode(stripUndefined(body))
  checkBody(decodeBounded(bytes, BODY_LIMITS))
  return bytes
}

/** Encodes an envelope; refuses one above MAX_NOTICE_BYTES. */
export function encodeNotice (envelope: NoticeEnvelope): Uint8Array {
  const bytes = encode({ v: envelope.v, body: envelope.body, sig: envelope.sig, signer: envelope.signer })
  if (bytes.byteLength > MAX_NOTICE_BYTES) { throw new NoticeError('TOO_LARGE', `notice of ${bytes.byteLength} bytes exceeds ${MAX_NOTICE_BYTES}`) }
  return bytes
}

/**
 * Builds a signed notice: encodes the body, has `sign` sign CBOR [label, body] (the CA's
 * `signNotice`, with the issuing key or, for a trust bundle, the root key), wraps it.
 */
export async function createNotice (body: Omit<NoticeBody, 'v'>, sign: (data: Uint8Array) => Promise<{ signature: Uint8Array, chain: Uint8Array[] }>): Promise<Uint8Array> {
  const bodyBytes = encodeNoticeBody({ v: WIRE_VERSION, ...body })
  const { signature, chain } = await sign(signedBytes(bodyBytes))
  return encodeNotice({ v: WIRE_VERSION, body: bodyBytes, sig: signature, signer: chain })
}

/** Decodes and shape-checks a notice: size first, then structure, then every field. Throws NoticeError. */
export function decodeNotice (bytes: Uint8Array): DecodedNotice {
  if (bytes.byteLength > MAX_NOTICE_BYTES) { throw new NoticeError('TOO_LARGE', `notice of ${bytes.byteLength} bytes exceeds ${MAX_NOTICE_BYTES}`) }
  const o = mapOf(decodeStrict(bytes, ENVELOPE_LIMITS), ['v', 'body', 'sig', 'signer'])
  if (o.v !== WIRE_VERSION) { throw new NoticeError(typeof o.v === 'number' ? 'UNSUPPORTED_VERSION' : 'MALFORMED', 'envelope of another version') }
  if (!isBytes(o.body, 1, MAX_NOTICE_BYTES)) { throw malformed('envelope without body bytes') }
  if (!isBytes(o.sig, 1, 512)) { throw malformed('envelope without a signature') }
  if (!certList(o.signer) || o.signer.length === 0) { throw malformed('envelope without a signer certificate') }
  const notice = checkBody(decodeStrict(o.body, BODY_LIMITS))
  return {
    v: o.v,
    body: o.body,
    sig: o.sig,
    signer: o.signer,
    notice,
    digest: createHash('sha256').update(bytes).digest('hex'),
    bytes
  }
}

function checkBody (value: unknown): NoticeBody {
  const o = mapOf(value, ['v', 'kind', 'seq', 'iat', 'exp', 'targets', 'roots', 'cas'])
  if (o.v !== WIRE_VERSION) { throw new NoticeError(typeof o.v === 'number' ? 'UNSUPPORTED_VERSION' : 'MALFORMED', 'body of another version') }
  if (!(NOTICE_KINDS as unknown[]).includes(o.kind)) { throw malformed('unknown notice kind') }
  for (const f of ['seq', 'iat', 'exp'] as const) {
    if (typeof o[f] !== 'number' || !Number.isSafeInteger(o[f]) || (o[f] as number) < 0) { throw malformed(`${f} is not a non-negative integer`) }
  }
  if ((o.exp as number) <= (o.iat as number)) { throw malformed('exp is not after iat') }
  const body: NoticeBody = { v: o.v, kind: o.kind as NoticeKind, seq: o.seq as number, iat: o.iat as number, exp: o.exp as number }
  if (o.kind === 'rotate-now') {
    if (o.roots !== undefined || o.cas !== undefined) { throw malformed('a rotate-now carries no certificates') }
    if (o.targets !== undefined) {
      if (!Array.isArray(o.targets) || o.targets.length === 0 || o.targets.length > MAX_TARGETS) { throw malformed(`targets is not 1-${MAX_TARGETS} node_ids`) }
      if (!o.targets.every(t => typeof t === 'string' && isValidNodeId(t))) { throw malformed('a target is not a node_id') }
      body.targets = o.targets as string[]
    }
  } else {
    if (o.targets !== undefined) { throw malformed('a trust bundle names no targets') }
    if (!certList(o.roots) || o.roots.length === 0) { throw malformed('a trust bundle without roots') }
    if (o.cas !== undefined && !certList(o.cas)) { throw malformed('cas is not a list of certificates') }
    body.roots = o.roots
    if (o.cas !== undefined) { body.cas = o.cas as Uint8Array[] }
  }
  return body
}

function decodeStrict (bytes: Uint8Array, limits: { maxDepth: number, maxTokens: number }): unknown {
  try {
    return decodeBounded(bytes, limits)
  } catch (err) {
    throw new NoticeError('MALFORMED', 'not strict CBOR within bounds', { cause: err })
  }
}

function mapOf (value: unknown, allowed: string[]): Record<string, unknown> {
  if (value == null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) { throw malformed('not a map') }
  const o = value as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) { throw malformed(`unexpected field ${JSON.stringify(k.slice(0, 16))}`) }
  }
  return o
}

function certList (v: unknown): v is Uint8Array[] {
  return Array.isArray(v) && v.length <= MAX_CERTS && v.every(c => isBytes(c, 1, MAX_CERT_BYTES))
}

function isBytes (v: unknown, min: number, max: number): v is Uint8Array {
  return v instanceof Uint8Array && v.byteLength >= min && v.byteLength <= max
}

function malformed (what: string): NoticeError {
  return new NoticeError('MALFORMED', what)
}

function stripUndefined (body: NoticeBody): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined))
}
