import { createPublicKey } from 'node:crypto'
import { MeshError } from '../errors.ts'
import { content, decodeDer, expectTag, readOctetAlignedBitString, readOid, TAG } from '../util/der.ts'
import type { DerNode } from '../util/der.ts'
import type { KeyObject } from 'node:crypto'

/**
 * Key hygiene for every public key the mesh accepts (CSRs, certificates, anchors): RSA between
 * 2048 and 8192 bits, P-256, P-384 and Ed25519, named curves only. All size decisions are taken
 * from the DER before node:crypto sees the key, so a hostile RSA-16384 key costs microseconds.
 */

export type KeyPolicyErrorCode =
  | 'WEAK_KEY' // RSA below the minimum, or a modulus that is not whole bytes
  | 'KEY_TOO_LARGE' // RSA above the maximum
  | 'UNSUPPORTED_KEY' // DSA, other curves, explicit curve parameters, RSA-PSS keys, unknown types
  | 'MALFORMED_KEY' // bad SubjectPublicKeyInfo or a point not on the curve

/** Raised for a public key the mesh refuses. */
export class KeyPolicyError extends MeshError<KeyPolicyErrorCode> {
  static name = 'KeyPolicyError'
}

export type CurveName = 'P-256' | 'P-384'

/** Facts about an accepted public key, and the KeyObject to verify with. */
export interface PublicKeyInfo {
  kind: 'ec' | 'ed25519' | 'rsa'
  curve?: CurveName
  /** RSA modulus length in bits. */
  bits?: number
  keyObject: KeyObject
}

/** What keys to accept; every field optional. */
export interface KeyPolicy {
  /** Smallest RSA modulus. @default 2048 (NIST SP 800-131A) */
  minRsaBits?: number
  /** Largest RSA modulus: verification cost grows with it, so huge keys are a DoS lever. @default 8192 */
  maxRsaBits?: number
  /** Accept RSA keys at all (node identities are P-256 or Ed25519; PKITS anchors are RSA). @default true */
  allowRsa?: boolean
  /** Accepted curves. @default ['P-256', 'P-384'] */
  curves?: CurveName[]
  /** Accept Ed25519. @default true */
  allowEd25519?: boolean
}

export const DEFAULT_KEY_POLICY: Required<KeyPolicy> = {
  minRsaBits: 2048,
  maxRsaBits: 8192,
  allowRsa: true,
  curves: ['P-256', 'P-384'],
  allowEd25519: true
}

const OID_EC = '1.2.840.10045.2.1'
const OID_ED25519 = '1.3.101.112'
const OID_RSA = '1.2.840.113549.1.1.1'
const CURVES = new Map<string, { name: CurveName, size: number }>([
  ['1.2.840.10045.3.1.7', { name: 'P-256', size: 32 }],
  ['1.3.132.0.34', { name: 'P-384', size: 48 }]
])

/** Checks a DER SubjectPublicKeyInfo against the policy; returns its facts and a KeyObject. */
export function checkPublicKey (spkiDer: Uint8Array, policy: KeyPolicy = {}): PublicKeyInfo {
  const p = { ...DEFAULT_KEY_POLICY, ...policy }
  let spki: DerNode
  let algOid: string
  let key: Uint8Array
  let params: DerNode | undefined
  try {
    // The key itself sits in a primitive BIT STRING, so even RSA-16384 is a handful of nodes;
    // the slack is for parameters we refuse by name below (DSA, explicit curves).
    spki = decodeDer(spkiDer, { maxDepth: 6, maxNodes: 64 })
    expectTag(spki, TAG.SEQUENCE, 'SubjectPublicKeyInfo')
    if (spki.children.length !== 2) { throw new Error('SubjectPublicKeyInfo must have two elements') }
    const alg = expectTag(spki.children[0], TAG.SEQUENCE, 'AlgorithmIdentifier')
    if (alg.children.length < 1 || alg.children.length > 2) { throw new Error('bad AlgorithmIdentifier') }
    algOid = readOid(alg.children[0])
    params = alg.children[1]
    key = readOctetAlignedBitString(spki.children[1])
  } catch (err) {
    throw new KeyPolicyError('MALFORMED_KEY', `malformed SubjectPublicKeyInfo: ${(err as Error).message}`, { cause: err })
  }

  if (algOid === OID_EC) {
    if (params == null) { throw new KeyPolicyError('MALFORMED_KEY', 'EC key without curve parameters') }
    if (params.tag !== TAG.OID) { throw new KeyPolicyError('UNSUPPORTED_KEY', 'explicit EC curve parameters are refused') }
    const curveOid = readOidOr(params)
    const curve = CURVES.get(curveOid)
    if (curve == null || !p.curves.includes(curve.name)) {
      throw new KeyPolicyError('UNSUPPORTED_KEY', `EC curve ${curveOid} is not allowed`)
    }
    // Uncompressed (04 || X || Y) or compressed (02/03 || X) points only.
    const okLength = key[0] === 0x04 ? key.length === 1 + 2 * curve.size : (key[0] === 0x02 || key[0] === 0x03) && key.length === 1 + curve.size
    if (!okLength) { throw new KeyPolicyError('MALFORMED_KEY', 'EC point has the wrong encoding or length') }
    return { kind: 'ec', curve: curve.name, keyObject: toKeyObject(spkiDer) }
  }
  if (algOid === OID_ED25519) {
    if (!p.allowEd25519) { throw new KeyPolicyError('UNSUPPORTED_KEY', 'Ed25519 keys are not allowed') }
    if (params != null) { throw new KeyPolicyError('MALFORMED_KEY', 'Ed25519 key must not have parameters') }
    if (key.length !== 32) { throw new KeyPolicyError('MALFORMED_KEY', 'Ed25519 key must be 32 bytes') }
    return { kind: 'ed25519', keyObject: toKeyObject(spkiDer) }
  }
  if (algOid === OID_RSA) {
    if (!p.allowRsa) { throw new KeyPolicyError('UNSUPPORTED_KEY', 'RSA keys are not allowed') }
    if (params == null || params.tag !== TAG.NULL || params.end !== params.contentStart) {
      throw new KeyPolicyError('MALFORMED_KEY', 'rsaEncryption requires NULL parameters')
    }
    const bits = rsaModulusBits(key)
    if (bits > p.maxRsaBits) { throw new KeyPolicyError('KEY_TOO_LARGE', `RSA-${bits} is above the ${p.maxRsaBits}-bit maximum`) }
    if (bits < p.minRsaBits) { throw new KeyPolicyError('WEAK_KEY', `RSA-${bits} is below the ${p.minRsaBits}-bit minimum`) }
    if (bits % 8 !== 0) { throw new KeyPolicyError('WEAK_KEY', `RSA modulus of ${bits} bits is not a whole number of bytes`) }
    return { kind: 'rsa', bits, keyObject: toKeyObject(spkiDer) }
  }
  throw new KeyPolicyError('UNSUPPORTED_KEY', `public key algorithm ${algOid} is not allowed`)
}

function readOidOr (node: DerNode): string {
  try {
    return readOid(node)
  } catch (err) {
    throw new KeyPolicyError('MALFORMED_KEY', 'malformed curve OID', { cause: err })
  }
}

/** Reads the modulus length of an RSAPublicKey from its DER, without any big-number work. */
function rsaModulusBits (rsaPublicKey: Uint8Array): number {
  try {
    const seq = expectTag(decodeDer(rsaPublicKey, { maxDepth: 1, maxNodes: 3 }), TAG.SEQUENCE, 'RSAPublicKey')
    if (seq.children.length !== 2) { throw new Error('RSAPublicKey must have two INTEGERs') }
    const n = content(expectTag(seq.children[0], TAG.INTEGER, 'modulus'))
    const e = content(expectTag(seq.children[1], TAG.INTEGER, 'exponent'))
    if (n.length === 0 || (n[0] & 0x80) !== 0 || (n.length > 1 && n[0] === 0 && (n[1] & 0x80) === 0)) {
      throw new Error('modulus is not a minimal positive INTEGER')
    }
    // Exponent: positive, odd, at most 64 bits (OpenSSL's own limit for public exponents).
    if (e.length === 0 || e.length > 9 || (e[0] & 0x80) !== 0 || (e[e.length - 1] & 1) === 0 || (e.length === 1 && e[0] < 3)) {
      throw new Error('bad public exponent')
    }
    let i = 0
    while (i < n.length && n[i] === 0) { i++ }
    if (i === n.length) { throw new Error('zero modulus') }
    return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]))
  } catch (err) {
    throw new KeyPolicyError('MALFORMED_KEY', `malformed RSA public key: ${(err as Error).message}`, { cause: err })
  }
}

function toKeyObject (spkiDer: Uint8Array): KeyObject {
  try {
    // node:crypto checks that EC points lie on the curve here.
    return createPublicKey({ key: Buffer.from(spkiDer.buffer, spkiDer.byteOffset, spkiDer.byteLength), format: 'der', type: 'spki' })
  } catch (err) {
    throw new KeyPolicyError('MALFORMED_KEY', `public key rejected by node:crypto: ${(err as Error).message}`, { cause: err })
  }
}
