import { createHash } from 'node:crypto'
import { content, decodeDer, encoded, expectTag, readInteger, readIntegerBytes, readSmallInteger, readTime, TAG } from '../util/der.ts'
import { EncodingError } from '../util/encoding-errors.ts'
import { serialToHex } from './certificate.ts'
import { parseName } from './name.ts'
import { parseAlgorithmIdentifier, readSignatureBits } from './signature.ts'
import { X509FormatError } from './x509-errors.ts'
import { decodeAuthorityKeyIdentifier, decodeExtension, EXT, parseExtensions } from './x509-extensions.ts'
import type { Name } from './name.ts'
import type { AlgorithmIdentifier } from './signature.ts'
import type { AuthorityKeyIdentifier, Extension } from './x509-extensions.ts'
import type { DerNode } from '../util/der.ts'

/**
 * A parsed X.509 v2 CRL (RFC 5280 §5). The parser records what it does not understand
 * (unknown critical extensions, delta and scoped CRLs) rather than guessing; the validator
 * decides whether such a CRL may be used.
 */

/** Largest CRL we parse. Mesh CRLs are small (short-lived certs); this bounds hostile input. */
export const MAX_CRL_BYTES = 8 * 1024 * 1024

/** A CRL is shallow but may be long: about 6 DER nodes per entry, so this allows ~100k entries. */
const CRL_DECODE = { maxDepth: 12, maxNodes: 600_000 }

export type RevocationReason = 'unspecified' | 'keyCompromise' | 'cACompromise' | 'affiliationChanged' | 'superseded' |
'cessationOfOperation' | 'certificateHold' | 'removeFromCRL' | 'privilegeWithdrawn' | 'aACompromise'

const REASONS: Array<RevocationReason | undefined> = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged',
  'superseded', 'cessationOfOperation', 'certificateHold', undefined, 'removeFromCRL', 'privilegeWithdrawn', 'aACompromise']

/** CRL entry extensions the validator understands. certificateIssuer (indirect CRLs) is NOT among them. */
const KNOWN_ENTRY_EXTENSIONS = new Set<string>([EXT.CRL_REASON, EXT.INVALIDITY_DATE])
/** CRL extensions the validator understands. Delta indicators and IDPs are recorded but not processed. */
const KNOWN_CRL_EXTENSIONS = new Set<string>([EXT.CRL_NUMBER, EXT.AUTHORITY_KEY_IDENTIFIER])

export interface RevokedEntry {
  serial: Uint8Array
  serialHex: string
  revocationDate: number
  reason?: RevocationReason
  extensions: ReadonlyMap<string, Extension>
}

export interface Crl {
  der: Uint8Array
  tbs: Uint8Array
  version: 1 | 2
  issuer: Name
  thisUpdate: number
  nextUpdate?: number
  /** cRLNumber, when present. */
  crlNumber?: bigint
  /** The cRLNumber extension was marked critical (RFC 5280 §5.2.3 forbids it). */
  crlNumberCritical: boolean
  /** Base CRL number of a delta CRL; delta CRLs are not processed by the mesh. */
  deltaCrlIndicator?: bigint
  /** An issuingDistributionPoint is present: the CRL's scope is restricted in ways the mesh does not process. */
  hasIssuingDistributionPoint: boolean
  authorityKeyIdentifier?: AuthorityKeyIdentifier
  extensions: ReadonlyMap<string, Extension>
  /** Revoked entries keyed by serialHex (the same form as Certificate.serialHex). */
  revoked: ReadonlyMap<string, RevokedEntry>
  /** OIDs of critical CRL extensions the validator does not understand. */
  unknownCriticalExtensions: string[]
  /** Some entry carries a critical extension the validator does not understand (e.g. certificateIssuer). */
  unknownCriticalEntryExtension: boolean
  tbsSignatureAlgorithm: AlgorithmIdentifier
  signatureAlgorithm: AlgorithmIdentifier
  signature: Uint8Array
  /** Non-zero unused bits in the signature BIT STRING: the signature cannot verify. */
  signatureMalformed: boolean
  /** SHA-256 of the DER, hex: for logs and caches only. */
  fingerprint: string
}

/** Parses a DER CRL; throws EncodingError or X509FormatError. */
export function parseCrl (input: Uint8Array): Crl {
  if (input.length > MAX_CRL_BYTES) {
    throw new EncodingError('INPUT_TOO_LARGE', `CRL larger than ${MAX_CRL_BYTES} bytes`)
  }
  const der = Uint8Array.from(input)
  const root = expectTag(decodeDer(der, CRL_DECODE), TAG.SEQUENCE, 'CertificateList')
  if (root.children.length !== 3) { throw new X509FormatError('MALFORMED_CRL', 'CertificateList must have three elements') }
  const [tbsNode, algNode, sigNode] = root.children
  expectTag(tbsNode, TAG.SEQUENCE, 'TBSCertList')
  const sig = readSignatureBits(sigNode)
  const f = tbsNode.children
  let i = 0
  let version: 1 | 2 = 1
  if (f[i]?.tag === TAG.INTEGER) {
    if (readSmallInteger(f[i++], 255) !== 1) { throw new X509FormatError('UNSUPPORTED_VERSION', 'CRL version must be v2') }
    version = 2
  }
  const tbsSignatureAlgorithm = parseAlgorithmIdentifier(f[i++])
  const issuer = parseName(f[i++])
  const thisUpdate = readTime(need(f[i++], 'thisUpdate'))
  let nextUpdate: number | undefined
  if (f[i]?.tag === TAG.UTC_TIME || f[i]?.tag === TAG.GENERALIZED_TIME) { nextUpdate = readTime(f[i++]) }
  const revoked = new Map<string, RevokedEntry>()
  let unknownCriticalEntryExtension = false
  if (f[i]?.tag === TAG.SEQUENCE) {
    const list = f[i++]
    for (const e of list.children) {
      const entry = parseEntry(e, version)
      if ([...entry.extensions.values()].some(x => x.critical && !KNOWN_ENTRY_EXTENSIONS.has(x.oid))) { unknownCriticalEntryExtension = true }
      // A serial listed twice keeps its first entry: either way it is revoked.
      if (!revoked.has(entry.serialHex)) { revoked.set(entry.serialHex, entry) }
    }
  }
  let extensions = new Map<string, Extension>()
  if (f[i]?.tag === 0xa0) {
    if (version !== 2) { throw new X509FormatError('MALFORMED_CRL', 'CRL extensions need version 2') }
    if (f[i].children.length !== 1) { throw new X509FormatError('MALFORMED_CRL', 'bad crlExtensions wrapper') }
    extensions = parseExtensions(f[i++].children[0], 'CRL')
  }
  if (i !== f.length) { throw new X509FormatError('MALFORMED_CRL', 'unexpected element in TBSCertList') }

  const num = extensions.get(EXT.CRL_NUMBER)
  const delta = extensions.get(EXT.DELTA_CRL_INDICATOR)
  const aki = extensions.get(EXT.AUTHORITY_KEY_IDENTIFIER)
  return {
    der,
    tbs: encoded(tbsNode),
    version,
    issuer,
    thisUpdate,
    nextUpdate,
    crlNumber: num != null ? decodeExtension(num, readCrlNumber) : undefined,
    crlNumberCritical: num?.critical === true,
    deltaCrlIndicator: delta != null ? decodeExtension(delta, readCrlNumber) : undefined,
    hasIssuingDistributionPoint: extensions.has(EXT.ISSUING_DISTRIBUTION_POINT),
    authorityKeyIdentifier: aki != null ? decodeExtension(aki, decodeAuthorityKeyIdentifier) : undefined,
    extensions,
    revoked,
    unknownCriticalExtensions: [...extensions.values()].filter(x => x.critical && !KNOWN_CRL_EXTENSIONS.has(x.oid)).map(x => x.oid),
    unknownCriticalEntryExtension,
    tbsSignatureAlgorithm,
    signatureAlgorithm: parseAlgorithmIdentifier(algNode),
    signature: sig.bytes,
    signatureMalformed: sig.malformed,
    fingerprint: createHash('sha256').update(der).digest('hex')
  }
}

function parseEntry (e: DerNode, version: 1 | 2): RevokedEntry {
  expectTag(e, TAG.SEQUENCE, 'revokedCertificate')
  if (e.children.length < 2 || e.children.length > 3) { throw new X509FormatError('MALFORMED_CRL', 'bad revoked entry') }
  const serial = readIntegerBytes(e.children[0])
  if (serial.length > 64) { throw new X509FormatError('MALFORMED_CRL', 'serial number longer than 64 octets') }
  const revocationDate = readTime(e.children[1])
  let extensions = new Map<string, Extension>()
  if (e.children.length === 3) {
    if (version !== 2) { throw new X509FormatError('MALFORMED_CRL', 'entry extensions need version 2') }
    extensions = parseExtensions(e.children[2], 'CRL entry')
  }
  const reasonExt = extensions.get(EXT.CRL_REASON)
  const reason = reasonExt != null ? decodeExtension(reasonExt, readReason) : undefined
  return { serial, serialHex: serialToHex(serial), revocationDate, reason, extensions }
}

function readReason (node: DerNode): RevocationReason {
  const r = REASONS[readSmallInteger(expectTag(node, TAG.ENUMERATED, 'CRLReason'), 10)]
  if (r == null) { throw new X509FormatError('MALFORMED_EXTENSION', 'unknown CRL reason code') }
  return r
}

/** CRLNumber ::= INTEGER (0..MAX), at most 20 octets (RFC 5280 §5.2.3). */
function readCrlNumber (node: DerNode): bigint {
  if (content(expectTag(node, TAG.INTEGER, 'CRLNumber')).length > 20) {
    throw new X509FormatError('MALFORMED_EXTENSION', 'CRL number longer than 20 octets')
  }
  const v = readInteger(node)
  if (v < 0n) { throw new X509FormatError('MALFORMED_EXTENSION', 'negative CRL number') }
  return v
}

function need (node: DerNode | undefined, what: string): DerNode {
  if (node == null) { throw new X509FormatError('MALFORMED_CRL', `missing ${what}`) }
  return node
}
