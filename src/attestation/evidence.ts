import { createHash, randomBytes } from 'node:crypto'
import { AttestationError } from './errors.ts'
import { MAX_PUBLIC_BYTES } from './tpm-public.ts'
import { TPM_HASHES } from './tpm-reader.ts'
import { MAX_SIGNATURE_BYTES } from './tpm-signature.ts'
import { MAX_ATTEST_BYTES } from './tpms-attest.ts'
import type { PcrBank } from './tpm-reader.ts'

/**
 * Attestation evidence as enrollment (`POST /v1/enroll`, JSON) and the attest protocol (CBOR)
 * carry it. Binary fields are bytes in memory and in CBOR, base64 in JSON. Field names are
 * snake_case because they are wire names.
 */

/** PCR values of one bank: index (decimal string) -> lowercase hex digest. */
export interface PcrValues {
  alg: PcrBank
  values: Record<string, string>
}

/** A TPM 2.0 quote by an AK over the PCRs, qualified by SHA-256(nonce || identity SPKI). */
export interface TpmQuoteEvidence {
  type: 'tpm_quote'
  /** The AK: TPM2B_PUBLIC (preferred: gives its Name and attributes) or SPKI DER. */
  ak_public: Uint8Array
  /** The EK: TPM2B_PUBLIC (needed to prove the AK is its child) or SPKI DER. */
  ek_public?: Uint8Array
  /** TPMS_ATTEST bytes exactly as the TPM signed them. */
  quote: Uint8Array
  /** TPMT_SIGNATURE over `quote`. */
  signature: Uint8Array
  pcrs: PcrValues
  /** The verifier's nonce, echoed. */
  nonce: Uint8Array
}

/** For platforms without a TPM; the policy decides whether it is enough. */
export interface NoneEvidence {
  type: 'none'
}

export type Evidence = TpmQuoteEvidence | NoneEvidence

/** Nonces are verifier-chosen random bytes: at least 16 (128 bits), at most 64. */
export const MIN_NONCE_BYTES = 16
export const MAX_NONCE_BYTES = 64
/** PCR indexes 0-23 on PC-client TPMs; the parser allows up to 63. */
export const MAX_PCR_INDEX = 63

/** A fresh verifier nonce (32 random bytes); the verifier keeps it with the time it issued it. */
export function newNonce (): Uint8Array {
  return new Uint8Array(randomBytes(32))
}

/** The quote's qualifying data: binds the attested TPM to the identity key in the certificate. */
export function quoteQualifyingData (nonce: Uint8Array, identitySpki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(nonce).update(identitySpki).digest())
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/

function bytesField (o: Record<string, unknown>, field: string, max: number, optional = false): Uint8Array | undefined {
  const v = o[field]
  if (v == null && optional) { return undefined }
  let out: Uint8Array
  if (v instanceof Uint8Array) {
    out = v
  } else if (typeof v === 'string' && v.length <= Math.ceil(max / 3) * 4 && v.length % 4 === 0 && B64.test(v)) {
    out = new Uint8Array(Buffer.from(v, 'base64'))
  } else {
    throw new AttestationError('MALFORMED_EVIDENCE', `evidence.${field} must be bytes or base64`)
  }
  if (out.length === 0 || out.length > max) {
    throw new AttestationError('MALFORMED_EVIDENCE', `evidence.${field} is ${out.length} bytes, not 1-${max}`)
  }
  return out
}

function parsePcrs (v: unknown): PcrValues {
  if (v == null || typeof v !== 'object') { throw new AttestationError('MALFORMED_EVIDENCE', 'evidence.pcrs must be an object') }
  const { alg, values } = v as Record<string, unknown>
  const bank = [...TPM_HASHES.values()].find(h => h.name === alg)
  if (bank == null) { throw new AttestationError('UNSUPPORTED_ALGORITHM', `PCR bank ${String(alg)} is not sha1/sha256/sha384/sha512`) }
  if (values == null || typeof values !== 'object' || Array.isArray(values)) {
    throw new AttestationError('MALFORMED_EVIDENCE', 'evidence.pcrs.values must be an object')
  }
  const entries = Object.entries(values)
  if (entries.length === 0 || entries.length > MAX_PCR_INDEX + 1) {
    throw new AttestationError('MALFORMED_EVIDENCE', `evidence.pcrs has ${entries.length} values`)
  }
  const hexLen = bank.size * 2
  const out: Record<string, string> = {}
  for (const [k, hex] of entries) {
    if (!/^(0|[1-9][0-9]?)$/.test(k) || Number(k) > MAX_PCR_INDEX) { throw new AttestationError('MALFORMED_EVIDENCE', `PCR index ${k} is not 0-${MAX_PCR_INDEX}`) }
    if (typeof hex !== 'string' || hex.length !== hexLen || !/^[0-9a-fA-F]+$/.test(hex)) {
      throw new AttestationError('MALFORMED_EVIDENCE', `PCR ${k} must be ${hexLen} hex digits`)
    }
    out[k] = hex.toLowerCase()
  }
  return { alg: bank.name, values: out }
}

/**
 * Checks the shape and bounds of decoded evidence (from CBOR: bytes; from JSON: base64) and
 * returns it typed. Says nothing about whether it is true: that is `verifyQuote`'s job.
 */
export function parseEvidence (value: unknown): Evidence {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AttestationError('MALFORMED_EVIDENCE', 'evidence must be an object')
  }
  const o = value as Record<string, unknown>
  if (o.type === 'none') { return { type: 'none' } }
  if (o.type !== 'tpm_quote') { throw new AttestationError('MALFORMED_EVIDENCE', `unknown evidence type ${JSON.stringify(o.type)}`) }
  const nonce = bytesField(o, 'nonce', MAX_NONCE_BYTES) as Uint8Array
  if (nonce.length < MIN_NONCE_BYTES) { throw new AttestationError('MALFORMED_EVIDENCE', `nonce of ${nonce.length} bytes is shorter than ${MIN_NONCE_BYTES}`) }
  const ek = bytesField(o, 'ek_public', MAX_PUBLIC_BYTES, true)
  return {
    type: 'tpm_quote',
    ak_public: bytesField(o, 'ak_public', MAX_PUBLIC_BYTES) as Uint8Array,
    ...(ek != null ? { ek_public: ek } : {}),
    quote: bytesField(o, 'quote', MAX_ATTEST_BYTES) as Uint8Array,
    signature: bytesField(o, 'signature', MAX_SIGNATURE_BYTES) as Uint8Array,
    pcrs: parsePcrs(o.pcrs),
    nonce
  }
}

/** The JSON form of evidence (binary fields in base64), for HTTP bodies. */
export function evidenceToJson (e: Evidence): Record<string, unknown> {
  if (e.type === 'none') { return { type: 'none' } }
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
  return {
    type: 'tpm_quote',
    ak_public: b64(e.ak_public),
    ...(e.ek_public != null ? { ek_public: b64(e.ek_public) } : {}),
    quote: b64(e.quote),
    signature: b64(e.signature),
    pcrs: { alg: e.pcrs.alg, values: { ...e.pcrs.values } },
    nonce: b64(e.nonce)
  }
}
