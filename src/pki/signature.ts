import { verify as cryptoVerify } from 'node:crypto'
import { MeshError } from '../errors.ts'
import { content, decodeDer, encoded, expectTag, readIntegerBytes, readOid, TAG } from '../util/der.ts'
import { EncodingError } from '../util/encoding-errors.ts'
import type { DerNode } from '../util/der.ts'
import type { KeyObject } from 'node:crypto'

// Signature algorithms the mesh verifies, by OID, with node:crypto doing the arithmetic.
//
// Decisions written down (with the Wycheproof README as the reference for each edge case):
// - High-S ECDSA signatures are ACCEPTED on verification, as node/OpenSSL do: (r, n-s) is as
//   valid as (r, s). ECDSA signatures are therefore malleable, so the mesh NEVER deduplicates
//   or revokes anything by a hash of a signature or of certificate bytes: revocation is by
//   issuer + serial. Caches may be keyed by certificate bytes (a re-encoded twin merely misses
//   the cache and is verified cold, revocation included). slackhq/nebula #1600 was a revocation
//   bypass through exactly this.
// - Wycheproof `acceptable` cases: the suites we run have none; were one to appear, the choices
//   here apply (strict DER, high-S accepted).
// - ECDSA signatures must be strict DER (minimal positive INTEGERs, no trailing bytes): we check
//   that ourselves before calling OpenSSL rather than rely on its version's leniency.
// - Parameters: ECDSA and Ed25519 AlgorithmIdentifiers must have NO parameters; RSA PKCS#1 v1.5
//   ones must carry exactly NULL (RFC 4055 §5, RFC 5758 §3.2, RFC 8410 §3). Anything else is
//   refused, so one signed structure has one encoding of its algorithm.
// - RSA-PSS is not supported (no mesh component issues it; PKITS 4.1-4.7 does not need it).

/** An AlgorithmIdentifier as it appeared in DER. */
export interface AlgorithmIdentifier {
  oid: string
  /** DER of the parameters element, or undefined when absent. */
  params?: Uint8Array
  /** The whole AlgorithmIdentifier encoding (compared byte for byte between tbs and outer). */
  der: Uint8Array
}

export type SignatureErrorCode = 'UNSUPPORTED_ALGORITHM' | 'BAD_ALGORITHM_PARAMETERS' | 'KEY_ALGORITHM_MISMATCH' | 'SHA1_NOT_ALLOWED'

/** Raised when a signature cannot even be checked: unknown algorithm, bad parameters, wrong key type. */
export class SignatureAlgorithmError extends MeshError<SignatureErrorCode> {
  static name = 'SignatureAlgorithmError'
}

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512'

interface AlgorithmSpec {
  name: string
  family: 'ecdsa' | 'ed25519' | 'rsa-pkcs1'
  hash: HashName | null
}

export const SIG_OID = {
  ECDSA_SHA256: '1.2.840.10045.4.3.2',
  ECDSA_SHA384: '1.2.840.10045.4.3.3',
  ECDSA_SHA512: '1.2.840.10045.4.3.4',
  ED25519: '1.3.101.112',
  RSA_SHA1: '1.2.840.113549.1.1.5',
  RSA_SHA256: '1.2.840.113549.1.1.11',
  RSA_SHA384: '1.2.840.113549.1.1.12',
  RSA_SHA512: '1.2.840.113549.1.1.13'
} as const

const ALGORITHMS = new Map<string, AlgorithmSpec>([
  [SIG_OID.ECDSA_SHA256, { name: 'ecdsa-with-SHA256', family: 'ecdsa', hash: 'sha256' }],
  [SIG_OID.ECDSA_SHA384, { name: 'ecdsa-with-SHA384', family: 'ecdsa', hash: 'sha384' }],
  [SIG_OID.ECDSA_SHA512, { name: 'ecdsa-with-SHA512', family: 'ecdsa', hash: 'sha512' }],
  [SIG_OID.ED25519, { name: 'Ed25519', family: 'ed25519', hash: null }],
  [SIG_OID.RSA_SHA1, { name: 'sha1WithRSAEncryption', family: 'rsa-pkcs1', hash: 'sha1' }],
  [SIG_OID.RSA_SHA256, { name: 'sha256WithRSAEncryption', family: 'rsa-pkcs1', hash: 'sha256' }],
  [SIG_OID.RSA_SHA384, { name: 'sha384WithRSAEncryption', family: 'rsa-pkcs1', hash: 'sha384' }],
  [SIG_OID.RSA_SHA512, { name: 'sha512WithRSAEncryption', family: 'rsa-pkcs1', hash: 'sha512' }]
])

/** Options for signature checks; every field optional. */
export interface SignaturePolicy {
  /** Accept sha1WithRSAEncryption. @default false (SHA-1 collisions are practical since 2017) */
  allowSha1?: boolean
}

const NULL_DER = Uint8Array.of(TAG.NULL, 0)

/** Parses an AlgorithmIdentifier node (SEQUENCE { OID, params OPTIONAL }). */
export function parseAlgorithmIdentifier (node: DerNode): AlgorithmIdentifier {
  expectTag(node, TAG.SEQUENCE, 'AlgorithmIdentifier')
  if (node.children.length < 1 || node.children.length > 2) {
    throw new SignatureAlgorithmError('BAD_ALGORITHM_PARAMETERS', 'AlgorithmIdentifier must hold an OID and at most one parameter')
  }
  const oid = readOid(node.children[0])
  const params = node.children.length === 2 ? encoded(node.children[1]) : undefined
  return { oid, params, der: encoded(node) }
}

/**
 * Reads a signatureValue BIT STRING. A non-zero unused-bits count does not fail the parse: the
 * structure is kept and marked `malformed`, so the validator reports a bad signature for it.
 */
export function readSignatureBits (node: DerNode): { bytes: Uint8Array, malformed: boolean } {
  const c = content(expectTag(node, TAG.BIT_STRING, 'signatureValue'))
  if (c.length === 0 || c[0] > 7) { throw new EncodingError('MALFORMED_DER', 'bad BIT STRING') }
  return { bytes: c.subarray(1), malformed: c[0] !== 0 }
}

/** Describes a signature algorithm, refusing unknown OIDs and wrong parameters. */
export function signatureAlgorithm (alg: AlgorithmIdentifier, policy: SignaturePolicy = {}): AlgorithmSpec {
  const spec = ALGORITHMS.get(alg.oid)
  if (spec == null) {
    throw new SignatureAlgorithmError('UNSUPPORTED_ALGORITHM', `signature algorithm ${alg.oid} is not supported`)
  }
  if (spec.family === 'rsa-pkcs1') {
    if (alg.params == null || !bytesEqual(alg.params, NULL_DER)) {
      throw new SignatureAlgorithmError('BAD_ALGORITHM_PARAMETERS', `${spec.name} requires NULL parameters`)
    }
  } else if (alg.params != null) {
    throw new SignatureAlgorithmError('BAD_ALGORITHM_PARAMETERS', `${spec.name} takes no parameters`)
  }
  if (spec.hash === 'sha1' && policy.allowSha1 !== true) {
    throw new SignatureAlgorithmError('SHA1_NOT_ALLOWED', 'SHA-1 signatures are not allowed by policy')
  }
  return spec
}

/**
 * Verifies `signature` over `data` with `key` under `alg` (X.509 encodings: DER ECDSA signatures).
 * Returns false for a wrong signature; throws SignatureAlgorithmError when it cannot be checked.
 */
export function verifySignature (alg: AlgorithmIdentifier, key: KeyObject, data: Uint8Array, signature: Uint8Array, policy: SignaturePolicy = {}): boolean {
  const spec = signatureAlgorithm(alg, policy)
  checkKeyFamily(spec, key)
  switch (spec.family) {
    case 'ecdsa':
      if (!isStrictDerEcdsaSignature(signature)) { return false }
      return cryptoVerify(spec.hash, data, { key, dsaEncoding: 'der' }, signature)
    case 'ed25519':
      if (signature.length !== 64) { return false }
      return cryptoVerify(null, data, key, signature)
    default:
      return cryptoVerify(spec.hash, data, key, signature)
  }
}

/** Verifies a raw IEEE P1363 (r || s) ECDSA signature, as WebCrypto and JOSE produce them. */
export function verifyP1363 (hash: 'sha256' | 'sha384' | 'sha512', key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (key.asymmetricKeyType !== 'ec') {
    throw new SignatureAlgorithmError('KEY_ALGORITHM_MISMATCH', 'P1363 ECDSA needs an EC key')
  }
  const curve = key.asymmetricKeyDetails?.namedCurve
  const size = curve === 'prime256v1' ? 32 : curve === 'secp384r1' ? 48 : 0
  if (size === 0) {
    throw new SignatureAlgorithmError('UNSUPPORTED_ALGORITHM', `curve ${String(curve)} is not supported`)
  }
  if (signature.length !== 2 * size) { return false }
  return cryptoVerify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature)
}

/** Verifies an Ed25519 signature (RFC 8032, no context): the gossip and auth transcript verifier. */
export function verifyEd25519 (key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SignatureAlgorithmError('KEY_ALGORITHM_MISMATCH', 'Ed25519 verification needs an Ed25519 key')
  }
  if (signature.length !== 64) { return false }
  return cryptoVerify(null, data, key, signature)
}

function checkKeyFamily (spec: AlgorithmSpec, key: KeyObject): void {
  const type = key.asymmetricKeyType
  const ok = spec.family === 'ecdsa' ? type === 'ec' : spec.family === 'ed25519' ? type === 'ed25519' : type === 'rsa'
  if (!ok) {
    throw new SignatureAlgorithmError('KEY_ALGORITHM_MISMATCH', `${spec.name} cannot be verified with a ${String(type)} key`)
  }
}

/**
 * Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }, strict DER, both positive. Range
 * against the group order is left to OpenSSL, which rejects r or s outside [1, n-1].
 */
function isStrictDerEcdsaSignature (sig: Uint8Array): boolean {
  if (sig.length > 2 + 2 * (2 + 67)) { return false }
  let node: DerNode
  try {
    node = decodeDer(sig, { maxDepth: 1, maxNodes: 3 })
    if (node.tag !== TAG.SEQUENCE || node.children.length !== 2) { return false }
    for (const child of node.children) {
      const v = readIntegerBytes(child)
      if ((v[0] & 0x80) !== 0) { return false }
      if (v.length === 1 && v[0] === 0) { return false }
    }
  } catch {
    return false
  }
  return true
}

/** Constant-shape byte comparison (not secret data; plain loop). */
export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) { return false }
  for (let i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false } }
  return true
}
