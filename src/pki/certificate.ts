import { createHash } from 'node:crypto'
import { decodeDer, encoded, expectTag, readIntegerBytes, readSmallInteger, readTime, TAG } from '../util/der.ts'
import { EncodingError } from '../util/encoding-errors.ts'
import { checkPublicKey } from './key-policy.ts'
import { parseName } from './name.ts'
import { parseAlgorithmIdentifier, readSignatureBits } from './signature.ts'
import { X509FormatError } from './x509-errors.ts'
import {
  checkAuthorityInfoAccess, decodeAuthorityKeyIdentifier, decodeBasicConstraints, decodeExtension, decodeExtKeyUsage,
  decodeGeneralNames, decodeKeyUsage, decodeSubjectKeyIdentifier, EXT, parseExtensions
} from './x509-extensions.ts'
import type { KeyPolicy, PublicKeyInfo } from './key-policy.ts'
import type { Name } from './name.ts'
import type { AlgorithmIdentifier } from './signature.ts'
import type { AuthorityKeyIdentifier, BasicConstraints, Extension, GeneralNames, KeyUsageName } from './x509-extensions.ts'
import type { KeyObject } from 'node:crypto'

export { nodeIdentity, isValidNodeId, isValidPeerIdText, NodeIdentityError } from './node-identity.ts'
export type { NodeIdentity, NodeIdentityErrorCode } from './node-identity.ts'

/** Largest certificate we parse: real ones are 0.5-4 KiB; this bounds hostile input. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024

/** Certificates are shallow (about 8 levels); extension values are decoded separately. */
const CERT_DECODE = { maxDepth: 16, maxNodes: 8192 }

/**
 * A parsed X.509 certificate (RFC 5280 §4.1), read with our strict DER reader. Every field the
 * validator needs is decoded once at parse time; the SHA-256 fingerprint and the KeyObject are
 * computed on first use and kept.
 */
export class Certificate {
  /** The whole certificate DER (a private copy). */
  readonly der: Uint8Array
  /** The signed TBSCertificate bytes. */
  readonly tbs: Uint8Array
  readonly version: 1 | 2 | 3
  /** Serial number content octets as encoded. */
  readonly serial: Uint8Array
  /** Serial as lowercase hex without leading zeros (`-` prefix for the non-conforming negative ones). */
  readonly serialHex: string
  readonly issuer: Name
  readonly subject: Name
  /** Validity bounds, milliseconds since the epoch, both inclusive. */
  readonly notBefore: number
  readonly notAfter: number
  /** SubjectPublicKeyInfo DER. */
  readonly spki: Uint8Array
  /** The SPKI's algorithm OID (e.g. 1.2.840.10045.2.1 for EC), read without judging the key. */
  readonly publicKeyAlgorithm: string
  /** Signature algorithm inside the TBS, and outside it; they must be byte-identical. */
  readonly tbsSignatureAlgorithm: AlgorithmIdentifier
  readonly signatureAlgorithm: AlgorithmIdentifier
  readonly signature: Uint8Array
  /** Non-zero unused bits in the signature BIT STRING: the signature cannot verify. */
  readonly signatureMalformed: boolean
  /** All extensions by OID. */
  readonly extensions: ReadonlyMap<string, Extension>
  readonly basicConstraints?: BasicConstraints
  readonly keyUsage?: ReadonlySet<KeyUsageName>
  readonly extKeyUsage?: readonly string[]
  readonly subjectAltName?: GeneralNames
  readonly authorityKeyIdentifier?: AuthorityKeyIdentifier
  readonly subjectKeyIdentifier?: Uint8Array
  /** Issuer and subject names match (RFC 5280 "self-issued"; says nothing about the signature). */
  readonly selfIssued: boolean

  #fingerprint?: string
  #spkiSha256?: string
  #key?: { policy: KeyPolicy | undefined, info: PublicKeyInfo }

  constructor (der: Uint8Array) {
    if (der.length > MAX_CERTIFICATE_BYTES) {
      throw new EncodingError('INPUT_TOO_LARGE', `certificate larger than ${MAX_CERTIFICATE_BYTES} bytes`)
    }
    this.der = Uint8Array.from(der)
    const root = decodeDer(this.der, CERT_DECODE)
    expectTag(root, TAG.SEQUENCE, 'Certificate')
    if (root.children.length !== 3) { throw new X509FormatError('MALFORMED_CERTIFICATE', 'Certificate must have three elements') }
    const [tbsNode, algNode, sigNode] = root.children
    expectTag(tbsNode, TAG.SEQUENCE, 'TBSCertificate')
    this.tbs = encoded(tbsNode)
    this.signatureAlgorithm = parseAlgorithmIdentifier(algNode)
    const sig = readSignatureBits(sigNode)
    this.signature = sig.bytes
    this.signatureMalformed = sig.malformed

    const f = tbsNode.children
    let i = 0
    let version = 0
    if (f[i]?.tag === 0xa0) {
      if (f[i].children.length !== 1) { throw new X509FormatError('MALFORMED_CERTIFICATE', 'bad version wrapper') }
      version = readSmallInteger(f[i++].children[0], 255)
      if (version > 2) { throw new X509FormatError('UNSUPPORTED_VERSION', `certificate version ${version + 1} is unknown`) }
    }
    this.version = (version + 1) as 1 | 2 | 3
    this.serial = readIntegerBytes(f[i++])
    if (this.serial.length > 64) { throw new X509FormatError('MALFORMED_CERTIFICATE', 'serial number longer than 64 octets') }
    this.serialHex = serialToHex(this.serial)
    this.tbsSignatureAlgorithm = parseAlgorithmIdentifier(f[i++])
    this.issuer = parseName(f[i++])
    const validity = expectTag(f[i++], TAG.SEQUENCE, 'Validity')
    if (validity.children.length !== 2) { throw new X509FormatError('MALFORMED_CERTIFICATE', 'Validity must have two times') }
    this.notBefore = readTime(validity.children[0])
    this.notAfter = readTime(validity.children[1])
    this.subject = parseName(f[i++])
    const spkiNode = expectTag(f[i++], TAG.SEQUENCE, 'SubjectPublicKeyInfo')
    this.spki = encoded(spkiNode)
    this.publicKeyAlgorithm = parseAlgorithmIdentifier(expectTag(spkiNode.children[0], TAG.SEQUENCE, 'SPKI algorithm')).oid
    // [1] issuerUniqueID and [2] subjectUniqueID (v2+), then [3] extensions (v3 only).
    for (const tag of [0x81, 0x82]) {
      if (f[i]?.tag === tag || f[i]?.tag === (tag | 0x20)) {
        if (this.version < 2) { throw new X509FormatError('MALFORMED_CERTIFICATE', 'unique identifiers need version 2 or 3') }
        i++
      }
    }
    let extensions = new Map<string, Extension>()
    if (f[i]?.tag === 0xa3) {
      if (this.version !== 3) { throw new X509FormatError('MALFORMED_CERTIFICATE', 'extensions need version 3') }
      if (f[i].children.length !== 1) { throw new X509FormatError('MALFORMED_CERTIFICATE', 'bad extensions wrapper') }
      extensions = parseExtensions(f[i++].children[0], 'certificate')
    }
    if (i !== f.length) { throw new X509FormatError('MALFORMED_CERTIFICATE', 'unexpected element in TBSCertificate') }
    this.extensions = extensions
    this.selfIssued = this.issuer.key === this.subject.key

    const get = (oid: string): Extension | undefined => extensions.get(oid)
    const bc = get(EXT.BASIC_CONSTRAINTS)
    if (bc != null) { this.basicConstraints = decodeExtension(bc, decodeBasicConstraints) }
    const ku = get(EXT.KEY_USAGE)
    if (ku != null) { this.keyUsage = decodeExtension(ku, decodeKeyUsage) }
    const eku = get(EXT.EXT_KEY_USAGE)
    if (eku != null) { this.extKeyUsage = decodeExtension(eku, decodeExtKeyUsage) }
    const san = get(EXT.SUBJECT_ALT_NAME)
    if (san != null) { this.subjectAltName = decodeExtension(san, decodeGeneralNames) }
    const aki = get(EXT.AUTHORITY_KEY_IDENTIFIER)
    if (aki != null) { this.authorityKeyIdentifier = decodeExtension(aki, decodeAuthorityKeyIdentifier) }
    const ski = get(EXT.SUBJECT_KEY_IDENTIFIER)
    if (ski != null) { this.subjectKeyIdentifier = decodeExtension(ski, decodeSubjectKeyIdentifier) }
    const aia = get(EXT.AUTHORITY_INFO_ACCESS)
    if (aia != null) { decodeExtension(aia, checkAuthorityInfoAccess) }
  }

  /** SHA-256 of the DER, lowercase hex. An identifier for caches and logs, NEVER for revocation. */
  get fingerprint (): string {
    this.#fingerprint ??= createHash('sha256').update(this.der).digest('hex')
    return this.#fingerprint
  }

  /** SHA-256 of the SubjectPublicKeyInfo, hex: identifies the key across re-issued certificates. */
  get spkiSha256 (): string {
    this.#spkiSha256 ??= createHash('sha256').update(this.spki).digest('hex')
    return this.#spkiSha256
  }

  /** The subject public key checked against a key policy (kept for repeated calls with the same policy object). */
  publicKey (policy?: KeyPolicy): PublicKeyInfo {
    if (this.#key == null || this.#key.policy !== policy) {
      this.#key = { policy, info: checkPublicKey(this.spki, policy) }
    }
    return this.#key.info
  }

  /** The subject public key as a node:crypto KeyObject, under the default key policy. */
  get keyObject (): KeyObject {
    return this.publicKey().keyObject
  }
}

/** Parses a DER certificate; throws EncodingError, X509FormatError or SignatureAlgorithmError. */
export function parseCertificate (der: Uint8Array): Certificate {
  return new Certificate(der)
}

/** Hex of a DER INTEGER's content, as a number: no leading zeros, `-` for negatives. */
export function serialToHex (bytes: Uint8Array): string {
  let v = 0n
  for (const b of bytes) { v = (v << 8n) | BigInt(b) }
  if (bytes.length > 0 && (bytes[0] & 0x80) !== 0) { v -= 1n << BigInt(bytes.length * 8) }
  return v < 0n ? `-${(-v).toString(16)}` : v.toString(16)
}
