import { checkPublicKey, KeyPolicyError } from '../pki/key-policy.ts'
import { parseName } from '../pki/name.ts'
import { parseAlgorithmIdentifier, SignatureAlgorithmError, verifySignature } from '../pki/signature.ts'
import { decodeBasicConstraints, decodeExtension, decodeGeneralNames, decodeKeyUsage, EXT, parseExtensions } from '../pki/x509-extensions.ts'
import { decodeDer, encoded, expectTag, readOctetAlignedBitString, readOid, readSmallInteger, TAG } from '../util/der.ts'
import { EncodingError } from '../util/encoding-errors.ts'
import { CsrRejectedError } from './errors.ts'
import type { CsrRejectedCode } from './errors.ts'
import type { KeyPolicy, PublicKeyInfo } from '../pki/key-policy.ts'
import type { Name } from '../pki/name.ts'
import type { AlgorithmIdentifier } from '../pki/signature.ts'
import type { BasicConstraints, Extension, GeneralNames, KeyUsageName } from '../pki/x509-extensions.ts'
import type { DerNode } from '../util/der.ts'

/** Largest CSR we parse: an RSA-8192 request is about 1.5 KiB; this bounds hostile input. */
export const MAX_CSR_BYTES = 64 * 1024

/** A CSR is about 8 levels deep (extensions are decoded separately); 16 is ample. */
const CSR_DECODE = { maxDepth: 16, maxNodes: 4096 }

/** PKCS#9 extensionRequest (RFC 2985 §5.4.2). */
export const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14'

/** A PKCS#10 request (RFC 2986) whose key passed the key policy and whose self-signature verified. */
export interface CertificationRequest {
  der: Uint8Array
  /** The signed CertificationRequestInfo bytes. */
  info: Uint8Array
  subject: Name
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array
  key: PublicKeyInfo
  signatureAlgorithm: AlgorithmIdentifier
  /** OIDs of all attributes, in order. */
  attributes: string[]
  /** Requested extensions by OID (empty when the CSR asks for none). */
  extensions: ReadonlyMap<string, Extension>
  subjectAltName?: GeneralNames
  basicConstraints?: BasicConstraints
  keyUsage?: ReadonlySet<KeyUsageName>
}

export interface ParseCsrOptions {
  /** Keys to accept. @default DEFAULT_KEY_POLICY (RSA 2048..8192, P-256, P-384, Ed25519) */
  keyPolicy?: KeyPolicy
}

function reject (code: CsrRejectedCode, message: string, cause?: unknown): never {
  throw new CsrRejectedError(code, message, cause === undefined ? undefined : { cause })
}

/**
 * Parses a DER PKCS#10 request strictly, checks its key against the policy (before any signature
 * work, so an RSA-16384 key costs microseconds), verifies the self-signature and decodes the
 * extensions the CA looks at. DER-level faults stay EncodingError (TRUNCATED_DER, NESTING_TOO_DEEP,
 * ...); anything else wrong is a CsrRejectedError.
 */
export function parseCsr (der: Uint8Array, options: ParseCsrOptions = {}): CertificationRequest {
  if (der.length > MAX_CSR_BYTES) {
    throw new EncodingError('INPUT_TOO_LARGE', `CSR larger than ${MAX_CSR_BYTES} bytes`)
  }
  const root = decodeDer(der, CSR_DECODE)
  const s = structure(root)
  const key = checkKey(s.spki, options.keyPolicy)
  checkSignature(s.signatureAlgorithm, key, s.info, s.signature)
  const csr: CertificationRequest = {
    der,
    info: s.info,
    subject: s.subject,
    spki: s.spki,
    key,
    signatureAlgorithm: s.signatureAlgorithm,
    attributes: s.attributes.map(a => a.oid),
    extensions: new Map()
  }
  decodeRequestedExtensions(csr, s.attributes)
  return csr
}

interface Structure {
  info: Uint8Array
  subject: Name
  spki: Uint8Array
  attributes: Array<{ oid: string, values: DerNode }>
  signatureAlgorithm: AlgorithmIdentifier
  signature: Uint8Array
}

/** CertificationRequest ::= SEQUENCE { CertificationRequestInfo, AlgorithmIdentifier, BIT STRING } */
function structure (root: DerNode): Structure {
  try {
    expectTag(root, TAG.SEQUENCE, 'CertificationRequest')
    if (root.children.length !== 3) { throw new Error('CertificationRequest must have three elements') }
    const [infoNode, algNode, sigNode] = root.children
    // CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name, subjectPKInfo, attributes [0] }
    expectTag(infoNode, TAG.SEQUENCE, 'CertificationRequestInfo')
    if (infoNode.children.length !== 4) { throw new Error('CertificationRequestInfo must have four elements') }
    const [versionNode, subjectNode, spkiNode, attrsNode] = infoNode.children
    if (readSmallInteger(versionNode, 255) !== 0) { throw new Error('CSR version must be 0 (v1)') }
    expectTag(spkiNode, TAG.SEQUENCE, 'SubjectPublicKeyInfo')
    expectTag(attrsNode, 0xa0, 'attributes [0]')
    const attributes = attrsNode.children.map(a => {
      // Attribute ::= SEQUENCE { type OID, values SET SIZE (1..MAX) OF ANY }
      expectTag(a, TAG.SEQUENCE, 'Attribute')
      if (a.children.length !== 2) { throw new Error('Attribute must have a type and values') }
      const values = expectTag(a.children[1], TAG.SET, 'Attribute values')
      if (values.children.length === 0) { throw new Error('Attribute has no values') }
      return { oid: readOid(a.children[0]), values }
    })
    return {
      info: encoded(infoNode),
      subject: parseName(subjectNode),
      spki: encoded(spkiNode),
      attributes,
      signatureAlgorithm: parseAlgorithmIdentifier(algNode),
      signature: readOctetAlignedBitString(sigNode)
    }
  } catch (err) {
    if (err instanceof SignatureAlgorithmError) { reject('UNSUPPORTED_SIGNATURE_ALGORITHM', err.message, err) }
    return reject('MALFORMED_CSR', `not a PKCS#10 request: ${(err as Error).message}`, err)
  }
}

function checkKey (spki: Uint8Array, policy?: KeyPolicy): PublicKeyInfo {
  try {
    return checkPublicKey(spki, policy)
  } catch (err) {
    if (err instanceof KeyPolicyError) { reject(err.code, err.message, err) }
    throw err
  }
}

function checkSignature (alg: AlgorithmIdentifier, key: PublicKeyInfo, info: Uint8Array, signature: Uint8Array): void {
  let ok: boolean
  try {
    ok = verifySignature(alg, key.keyObject, info, signature)
  } catch (err) {
    if (err instanceof SignatureAlgorithmError) {
      if (err.code === 'KEY_ALGORITHM_MISMATCH') { reject('BAD_SIGNATURE', err.message, err) }
      reject('UNSUPPORTED_SIGNATURE_ALGORITHM', err.message, err)
    }
    throw err
  }
  if (!ok) { reject('BAD_SIGNATURE', 'the CSR self-signature does not verify with its own key') }
}

function decodeRequestedExtensions (csr: CertificationRequest, attributes: Structure['attributes']): void {
  const requests = attributes.filter(a => a.oid === OID_EXTENSION_REQUEST)
  if (requests.length === 0) { return }
  try {
    if (requests.length > 1 || requests[0].values.children.length !== 1) {
      throw new Error('extensionRequest must appear once with one value')
    }
    const exts = parseExtensions(requests[0].values.children[0], 'CSR')
    csr.extensions = exts
    const san = exts.get(EXT.SUBJECT_ALT_NAME)
    if (san != null) { csr.subjectAltName = decodeExtension(san, decodeGeneralNames) }
    const bc = exts.get(EXT.BASIC_CONSTRAINTS)
    if (bc != null) { csr.basicConstraints = decodeExtension(bc, decodeBasicConstraints) }
    const ku = exts.get(EXT.KEY_USAGE)
    if (ku != null) { csr.keyUsage = decodeExtension(ku, decodeKeyUsage) }
  } catch (err) {
    reject('MALFORMED_CSR', `bad requested extensions: ${(err as Error).message}`, err)
  }
}
