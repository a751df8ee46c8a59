import { createHash, createPublicKey } from 'node:crypto'
import { AttestationError } from './errors.ts'
import { KeyCache } from './key-cache.ts'
import { TPM_ALG, TPM_HASHES, TpmReader } from './tpm-reader.ts'

/**
 * TPM2B_PUBLIC (TPM 2.0 Part 2 §12.2.5) for the keys attestation uses: the AK (ECC P-256 or
 * RSA) and the EK (ECC P-256 or RSA 2048). We turn it into an SPKI for node:crypto, compute
 * its Name (nameAlg || H(TPMT_PUBLIC)) and read the attributes that make an AK trustworthy.
 */

/** An EK or AK blob is ~90-400 bytes; 1 KiB bounds them. */
export const MAX_PUBLIC_BYTES = 1024

/** TPMA_OBJECT bits (Part 2 §8.3). */
export const TPMA = {
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18
} as const

/** An AK the verifier trusts to sign only TPM-made data: restricted signing, never leaving the TPM. */
export const AK_REQUIRED_ATTRIBUTES = TPMA.fixedTPM | TPMA.fixedParent | TPMA.sensitiveDataOrigin | TPMA.restricted | TPMA.sign

/** TPM_RH_ENDORSEMENT: the hierarchy whose handle starts the EK's qualified name. */
export const TPM_RH_ENDORSEMENT = 0x4000000b

const TPM_ECC_NIST_P256 = 0x0003

export interface TpmPublic {
  type: 'ecc' | 'rsa'
  nameAlg: number
  attributes: number
  /** The key as SubjectPublicKeyInfo DER. */
  spki: Uint8Array
  /** nameAlg (2 bytes) || H_nameAlg(TPMT_PUBLIC): how the TPM names the object. */
  name: Uint8Array
  /** Set for storage keys such as the EK (needed to wrap a credential to it). */
  symmetric?: SymmetricDef
}

function b64url (b: Uint8Array): string {
  return Buffer.from(b).toString('base64url')
}

/** TPMT_SYM_DEF_OBJECT: what a storage key (the EK) protects its children's secrets with. */
export interface SymmetricDef { algorithm: number, keyBits: number, mode: number }

function readSymmetric (r: TpmReader): SymmetricDef | undefined {
  const algorithm = r.u16('symmetric.algorithm')
  if (algorithm === TPM_ALG.NULL) { return undefined }
  return { algorithm, keyBits: r.u16('symmetric.keyBits'), mode: r.u16('symmetric.mode') }
}

function skipScheme (r: TpmReader, field: string): void {
  const scheme = r.u16(`${field}.scheme`)
  if (scheme !== TPM_ALG.NULL) {
    r.u16(`${field}.hashAlg`)
    if (scheme === TPM_ALG.ECDAA) { r.u16(`${field}.count`) }
  }
}

/** Parses a TPM2B_PUBLIC (size-prefixed TPMT_PUBLIC) strictly; trailing bytes are refused. */
export function parseTpm2bPublic (bytes: Uint8Array): TpmPublic {
  if (bytes.length > MAX_PUBLIC_BYTES) {
    throw new AttestationError('MALFORMED_EVIDENCE', `TPM2B_PUBLIC of ${bytes.length} bytes exceeds ${MAX_PUBLIC_BYTES}`)
  }
  const outer = new TpmReader(bytes, 'TPM2B_PUBLIC')
  const tpmtPublic = outer.tpm2b('publicArea', MAX_PUBLIC_BYTES)
  outer.end()
  const r = new TpmReader(tpmtPublic, 'TPMT_PUBLIC')
  const type = r.u16('type')
  const nameAlg = r.u16('nameAlg')
  const hash = TPM_HASHES.get(nameAlg)
  if (hash == null || hash.name === 'sha1') {
    throw new AttestationError('UNSUPPORTED_ALGORITHM', `object nameAlg 0x${nameAlg.toString(16)} is not SHA-256/384/512`)
  }
  const attributes = r.u32('objectAttributes')
  r.tpm2b('authPolicy', 64)
  let spki: Uint8Array
  let symmetric: SymmetricDef | undefined
  if (type === TPM_ALG.ECC) {
    symmetric = readSymmetric(r)
    skipScheme(r, 'scheme')
    const curve = r.u16('curveID')
    skipScheme(r, 'kdf')
    const x = r.tpm2b('unique.x', 66)
    const y = r.tpm2b('unique.y', 66)
    if (curve !== TPM_ECC_NIST_P256) {
      throw new AttestationError('UNSUPPORTED_ALGORITHM', `ECC curve 0x${curve.toString(16)} is not NIST P-256`)
    }
    if (x.length !== 32 || y.length !== 32) {
      throw new AttestationError('MALFORMED_EVIDENCE', 'P-256 point coordinates must be 32 bytes')
    }
    spki = jwkSpki({ kty: 'EC', crv: 'P-256', x: b64url(x), y: b64url(y) })
  } else if (type === TPM_ALG.RSA) {
    symmetric = readSymmetric(r)
    skipScheme(r, 'scheme')
    const keyBits = r.u16('keyBits')
    const exponent = r.u32('exponent')
    const n = r.tpm2b('unique.rsa', 512)
    if (keyBits < 2048 || keyBits > 4096 || n.length * 8 !== keyBits) {
      throw new AttestationError('UNSUPPORTED_ALGORITHM', `RSA key of ${keyBits} bits (modulus ${n.length} bytes) is not 2048-4096`)
    }
    const e = exponent === 0 ? 65537 : exponent
    const eBytes = Buffer.alloc(4)
    eBytes.writeUInt32BE(e)
    let i = 0
    while (i < 3 && eBytes[i] === 0) { i++ }
    spki = jwkSpki({ kty: 'RSA', n: b64url(n), e: b64url(eBytes.subarray(i)) })
  } else {
    throw new AttestationError('UNSUPPORTED_ALGORITHM', `TPM key type 0x${type.toString(16)} is not ECC or RSA`)
  }
  r.end()
  const name = new Uint8Array(2 + hash.size)
  name[0] = nameAlg >> 8
  name[1] = nameAlg & 0xff
  name.set(createHash(hash.name).update(tpmtPublic).digest(), 2)
  return { type: type === TPM_ALG.ECC ? 'ecc' : 'rsa', nameAlg, attributes, spki, name, ...(symmetric != null ? { symmetric } : {}) }
}

function jwkSpki (jwk: Record<string, string>): Uint8Array {
  try {
    return new Uint8Array(createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'spki' }))
  } catch (err) {
    // an x, y not on the curve, or an RSA modulus node:crypto refuses
    throw new AttestationError('MALFORMED_EVIDENCE', 'TPM public key is not a valid key', { cause: err })
  }
}

/**
 * The Qualified Name of an object whose parent has qualified name `parentQn`:
 * QN = nameAlg || H_nameAlg(parentQn || Name) (Part 1 §16). A hierarchy's QN is its handle.
 */
export function qualifiedName (parentQn: Uint8Array, name: Uint8Array): Uint8Array {
  const alg = (name[0] << 8) | name[1]
  const hash = TPM_HASHES.get(alg)
  if (hash == null) { throw new AttestationError('UNSUPPORTED_ALGORITHM', `name algorithm 0x${alg.toString(16)}`) }
  const out = new Uint8Array(2 + hash.size)
  out.set(name.subarray(0, 2), 0)
  out.set(createHash(hash.name).update(parentQn).update(name).digest(), 2)
  return out
}

/** The qualified name an AK created directly under the EK (a primary in the endorsement hierarchy) has. */
export function akQualifiedNameUnderEk (ekName: Uint8Array, akName: Uint8Array): Uint8Array {
  const hierarchy = new Uint8Array(4)
  new DataView(hierarchy.buffer).setUint32(0, TPM_RH_ENDORSEMENT)
  return qualifiedName(qualifiedName(hierarchy, ekName), akName)
}

/** A key as evidence carries it: its SPKI, and its Name and attributes when sent as TPM2B_PUBLIC. */
export interface EvidenceKey {
  spki: Uint8Array
  name?: Uint8Array
  attributes?: number
}

/**
 * Reads an AK or EK sent either as TPM2B_PUBLIC or as SPKI DER. The forms cannot be confused:
 * SPKI starts with a DER SEQUENCE (0x30), and a TPM2B_PUBLIC whose size started 0x30 would be
 * over 12 KiB, far above MAX_PUBLIC_BYTES.
 */
export function parseEvidenceKey (bytes: Uint8Array, field: string): EvidenceKey {
  // copies out of the cache, so a caller that edits the verdict cannot poison it
  const k = evidenceKeys.get(bytes, () => parseEvidenceKeyUncached(bytes, field))
  return { spki: k.spki.slice(), ...(k.name != null ? { name: k.name.slice() } : {}), ...(k.attributes != null ? { attributes: k.attributes } : {}) }
}

/** Parsed AKs and EKs by their bytes: a parse failure throws and is not cached. */
const evidenceKeys = new KeyCache<EvidenceKey>()

function parseEvidenceKeyUncached (bytes: Uint8Array, field: string): EvidenceKey {
  if (bytes.length > 0 && bytes[0] === 0x30) {
    try {
      const key = createPublicKey({ key: Buffer.from(bytes), format: 'der', type: 'spki' })
      const spki = new Uint8Array(key.export({ format: 'der', type: 'spki' }))
      // one encoding per key: the re-export must give back the same bytes
      if (Buffer.compare(Buffer.from(spki), Buffer.from(bytes)) !== 0) { throw new Error('non-canonical SPKI') }
      return { spki }
    } catch (err) {
      throw new AttestationError('MALFORMED_EVIDENCE', `${field} is not a valid SPKI`, { cause: err })
    }
  }
  const pub = parseTpm2bPublic(bytes)
  return { spki: pub.spki, name: pub.name, attributes: pub.attributes }
}
