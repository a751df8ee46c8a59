import { constants, createPublicKey, verify } from 'node:crypto'
import { AttestationError } from './errors.ts'
import { KeyCache } from './key-cache.ts'
import { TPM_ALG, TPM_HASHES, TpmReader } from './tpm-reader.ts'
import type { PcrBank } from './tpm-reader.ts'
import type { KeyObject } from 'node:crypto'

/** TPMT_SIGNATURE with an RSA-4096 signature is 518 bytes; 1 KiB bounds it. */
export const MAX_SIGNATURE_BYTES = 1024

/** A TPMT_SIGNATURE (Part 2 §11.3.4) in the form node:crypto verifies. */
export interface TpmSignature {
  scheme: 'ecdsa' | 'rsassa' | 'rsapss'
  hash: PcrBank
  /** ECDSA: r and s as the TPM sent them (unpadded); RSA: the signature. */
  r?: Uint8Array
  s?: Uint8Array
  sig?: Uint8Array
}

/** Parses a marshaled TPMT_SIGNATURE (tpm2-tools' default "tss" output format). */
export function parseTpmtSignature (bytes: Uint8Array): TpmSignature {
  if (bytes.length > MAX_SIGNATURE_BYTES) {
    throw new AttestationError('MALFORMED_EVIDENCE', `TPMT_SIGNATURE of ${bytes.length} bytes exceeds ${MAX_SIGNATURE_BYTES}`)
  }
  const r = new TpmReader(bytes, 'TPMT_SIGNATURE')
  const sigAlg = r.u16('sigAlg')
  const hashAlg = r.u16('hash')
  const hash = TPM_HASHES.get(hashAlg)
  // SHA-1 signatures are forgeable in practice for chosen prefixes: refuse them outright.
  if (hash == null || hash.name === 'sha1') {
    throw new AttestationError('UNSUPPORTED_ALGORITHM', `signature hash 0x${hashAlg.toString(16)} is not SHA-256/384/512`)
  }
  let out: TpmSignature
  if (sigAlg === TPM_ALG.ECDSA) {
    out = { scheme: 'ecdsa', hash: hash.name, r: r.tpm2b('signatureR', 66), s: r.tpm2b('signatureS', 66) }
  } else if (sigAlg === TPM_ALG.RSASSA || sigAlg === TPM_ALG.RSAPSS) {
    out = { scheme: sigAlg === TPM_ALG.RSASSA ? 'rsassa' : 'rsapss', hash: hash.name, sig: r.tpm2b('sig', 512) }
  } else {
    throw new AttestationError('UNSUPPORTED_ALGORITHM', `signature scheme 0x${sigAlg.toString(16)} is not ECDSA, RSASSA or RSAPSS`)
  }
  r.end()
  return out
}

/** Imported AK public keys by SPKI (KeyObjects are immutable). */
const keyObjects = new KeyCache<KeyObject>()

/** P1363 half-length per curve (node:crypto curve names). */
const COORDINATE_SIZE: Record<string, number> = { prime256v1: 32, secp384r1: 48, secp521r1: 66 }

/** Left-pads an unsigned big-endian integer to `size` bytes; undefined when it does not fit. */
function pad (v: Uint8Array, size: number): Uint8Array | undefined {
  let i = 0
  while (i < v.length && v[i] === 0) { i++ }
  const t = v.subarray(i)
  if (t.length > size) { return undefined }
  const out = new Uint8Array(size)
  out.set(t, size - t.length)
  return out
}

/**
 * Verifies `sig` over `data` with the AK (SPKI DER). ECDSA r and s become IEEE P1363 r || s at
 * the curve size; RSASSA is PKCS#1 v1.5 and RSAPSS takes the salt length from the signature.
 * Returns false on any mismatch of key type and scheme, never throws for a bad signature.
 */
export function verifyTpmSignature (akSpki: Uint8Array, sig: TpmSignature, data: Uint8Array): boolean {
  const key = keyObjects.get(akSpki, () => createPublicKey({ key: Buffer.from(akSpki), format: 'der', type: 'spki' }))
  if (sig.scheme === 'ecdsa') {
    const coordinateSize = COORDINATE_SIZE[key.asymmetricKeyDetails?.namedCurve ?? '']
    if (key.asymmetricKeyType !== 'ec' || coordinateSize == null || sig.r == null || sig.s == null) { return false }
    const r = pad(sig.r, coordinateSize)
    const s = pad(sig.s, coordinateSize)
    if (r == null || s == null) { return false }
    const p1363 = Buffer.concat([r, s])
    return verify(sig.hash, data, { key, dsaEncoding: 'ieee-p1363' }, p1363)
  }
  if (key.asymmetricKeyType !== 'rsa' || sig.sig == null) { return false }
  const padding = sig.scheme === 'rsassa' ? constants.RSA_PKCS1_PADDING : constants.RSA_PKCS1_PSS_PADDING
  return verify(sig.hash, data, { key, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig.sig)
}
