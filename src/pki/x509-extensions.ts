import { content, decodeDer, expectTag, readBitString, readBoolean, readOid, readSmallInteger, readIntegerBytes, TAG } from '../util/der.ts'
import { parseName } from './name.ts'
import { X509FormatError } from './x509-errors.ts'
import type { Name } from './name.ts'
import type { DerNode } from '../util/der.ts'

/** Decoders for the X.509 extensions the mesh reads (RFC 5280 §4.2), each strict about shape. */

export const EXT = {
  SUBJECT_KEY_IDENTIFIER: '2.5.29.14',
  KEY_USAGE: '2.5.29.15',
  SUBJECT_ALT_NAME: '2.5.29.17',
  ISSUER_ALT_NAME: '2.5.29.18',
  BASIC_CONSTRAINTS: '2.5.29.19',
  CRL_NUMBER: '2.5.29.20',
  CRL_REASON: '2.5.29.21',
  INVALIDITY_DATE: '2.5.29.24',
  DELTA_CRL_INDICATOR: '2.5.29.27',
  ISSUING_DISTRIBUTION_POINT: '2.5.29.28',
  CERTIFICATE_ISSUER: '2.5.29.29',
  NAME_CONSTRAINTS: '2.5.29.30',
  CRL_DISTRIBUTION_POINTS: '2.5.29.31',
  CERTIFICATE_POLICIES: '2.5.29.32',
  POLICY_MAPPINGS: '2.5.29.33',
  AUTHORITY_KEY_IDENTIFIER: '2.5.29.35',
  POLICY_CONSTRAINTS: '2.5.29.36',
  EXT_KEY_USAGE: '2.5.29.37',
  FRESHEST_CRL: '2.5.29.46',
  INHIBIT_ANY_POLICY: '2.5.29.54',
  AUTHORITY_INFO_ACCESS: '1.3.6.1.5.5.7.1.1'
} as const

export const EKU = {
  SERVER_AUTH: '1.3.6.1.5.5.7.3.1',
  CLIENT_AUTH: '1.3.6.1.5.5.7.3.2',
  ANY: '2.5.29.37.0'
} as const

export interface Extension {
  oid: string
  critical: boolean
  /** DER of the extension value (the content of extnValue). */
  value: Uint8Array
}

/** Nested extension values are shallow; this limit is generous and still stops nesting bombs. */
const EXT_DECODE = { maxDepth: 12, maxNodes: 4096 }

/**
 * Parses `Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension`; a repeated OID is an error. An
 * empty list breaks the SIZE constraint but carries no meaning, and common encoders (including
 * @peculiar/x509) emit it, so it is read as "no extensions".
 */
export function parseExtensions (node: DerNode, what: string): Map<string, Extension> {
  expectTag(node, TAG.SEQUENCE, `${what} extensions`)
  const out = new Map<string, Extension>()
  for (const ext of node.children) {
    expectTag(ext, TAG.SEQUENCE, 'Extension')
    const n = ext.children.length
    if (n < 2 || n > 3) { throw new X509FormatError('MALFORMED_EXTENSION', 'Extension must have 2 or 3 elements') }
    const oid = readOid(ext.children[0])
    const critical = n === 3 ? readBoolean(ext.children[1]) : false
    const value = content(expectTag(ext.children[n - 1], TAG.OCTET_STRING, 'extnValue'))
    if (out.has(oid)) {
      // RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
      throw new X509FormatError('DUPLICATE_EXTENSION', `extension ${oid} appears more than once in the ${what}`)
    }
    out.set(oid, { oid, critical, value })
  }
  return out
}

/** Decodes an extension value with a bounded parse, mapping DER errors to MALFORMED_EXTENSION. */
export function decodeExtension<T> (ext: Extension, decode: (node: DerNode) => T): T {
  try {
    return decode(decodeDer(ext.value, EXT_DECODE))
  } catch (err) {
    if (err instanceof X509FormatError) { throw err }
    throw new X509FormatError('MALFORMED_EXTENSION', `malformed extension ${ext.oid}: ${(err as Error).message}`, { cause: err })
  }
}

export interface BasicConstraints {
  ca: boolean
  pathLen?: number
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL } */
export function decodeBasicConstraints (node: DerNode): BasicConstraints {
  expectTag(node, TAG.SEQUENCE, 'BasicConstraints')
  let i = 0
  let ca = false
  if (node.children[i]?.tag === TAG.BOOLEAN) { ca = readBoolean(node.children[i++]) }
  let pathLen: number | undefined
  if (node.children[i]?.tag === TAG.INTEGER) { pathLen = readSmallInteger(node.children[i++], 0xffff) }
  if (i !== node.children.length) { throw new X509FormatError('MALFORMED_EXTENSION', 'unexpected BasicConstraints element') }
  return { ca, pathLen }
}

export type KeyUsageName = 'digitalSignature' | 'nonRepudiation' | 'keyEncipherment' | 'dataEncipherment' |
'keyAgreement' | 'keyCertSign' | 'cRLSign' | 'encipherOnly' | 'decipherOnly'

const KEY_USAGE_BITS: KeyUsageName[] = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment',
  'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly']

/** KeyUsage ::= BIT STRING; at least one bit must be set (RFC 5280 §4.2.1.3). */
export function decodeKeyUsage (node: DerNode): ReadonlySet<KeyUsageName> {
  const { bytes } = readBitString(node)
  const out = new Set<KeyUsageName>()
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3] & (0x80 >> (bit & 7))) !== 0) {
      // Bits beyond decipherOnly are undefined; they carry no permission.
      if (bit < KEY_USAGE_BITS.length) { out.add(KEY_USAGE_BITS[bit]) }
    }
  }
  if (out.size === 0) { throw new X509FormatError('MALFORMED_EXTENSION', 'keyUsage with no bit set') }
  return out
}

/** ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId */
export function decodeExtKeyUsage (node: DerNode): string[] {
  expectTag(node, TAG.SEQUENCE, 'ExtKeyUsageSyntax')
  if (node.children.length === 0) { throw new X509FormatError('MALFORMED_EXTENSION', 'extKeyUsage lists no purpose') }
  return node.children.map(readOid)
}

export interface GeneralNames {
  uri: string[]
  dns: string[]
  email: string[]
  /** Dotted IPv4 or RFC 5952 IPv6 text. */
  ip: string[]
  directory: Name[]
  /** otherName (with its type-id), x400Address, ediPartyName, registeredID. */
  other: Array<{ kind: 'otherName' | 'x400Address' | 'ediPartyName' | 'registeredID', typeId?: string }>
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName */
export function decodeGeneralNames (node: DerNode): GeneralNames {
  expectTag(node, TAG.SEQUENCE, 'GeneralNames')
  if (node.children.length === 0) { throw new X509FormatError('MALFORMED_EXTENSION', 'empty GeneralNames') }
  const out: GeneralNames = { uri: [], dns: [], email: [], ip: [], directory: [], other: [] }
  for (const gn of node.children) { addGeneralName(gn, out) }
  return out
}

function addGeneralName (gn: DerNode, out: GeneralNames): void {
  if (gn.tagClass !== 2) { throw new X509FormatError('MALFORMED_EXTENSION', 'GeneralName must be context-tagged') }
  switch (gn.tag) {
    case 0xa0: // otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY }
      if (gn.children.length !== 2 || gn.children[1].tag !== 0xa0 || gn.children[1].children.length !== 1) {
        throw new X509FormatError('MALFORMED_EXTENSION', 'malformed otherName')
      }
      out.other.push({ kind: 'otherName', typeId: readOid(gn.children[0]) })
      return
    case 0x81: out.email.push(ia5(gn)); return
    case 0x82: out.dns.push(ia5(gn)); return
    case 0xa3: out.other.push({ kind: 'x400Address' }); return
    case 0xa4:
      if (gn.children.length !== 1) { throw new X509FormatError('MALFORMED_EXTENSION', 'malformed directoryName') }
      out.directory.push(parseName(gn.children[0]))
      return
    case 0xa5: out.other.push({ kind: 'ediPartyName' }); return
    case 0x86: out.uri.push(ia5(gn)); return
    case 0x87: out.ip.push(ipText(content(gn))); return
    case 0x88: out.other.push({ kind: 'registeredID', typeId: readOid({ ...gn, tag: TAG.OID }) }); return
    default: throw new X509FormatError('MALFORMED_EXTENSION', `unknown GeneralName tag 0x${gn.tag.toString(16)}`)
  }
}

function ia5 (node: DerNode): string {
  const c = content(node)
  if (c.length === 0) { throw new X509FormatError('MALFORMED_EXTENSION', 'empty IA5String name') }
  for (const b of c) { if (b > 0x7e || b < 0x20) { throw new X509FormatError('MALFORMED_EXTENSION', 'name is not printable IA5') } }
  return Buffer.from(c).toString('latin1')
}

function ipText (b: Uint8Array): string {
  if (b.length === 4) { return Array.from(b).join('.') }
  if (b.length === 16) {
    const groups: number[] = []
    for (let i = 0; i < 16; i += 2) { groups.push((b[i] << 8) | b[i + 1]) }
    return ipv6Text(groups)
  }
  throw new X509FormatError('MALFORMED_EXTENSION', 'iPAddress must be 4 or 16 bytes')
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
function ipv6Text (g: number[]): string {
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && g[j] === 0) { j++ }
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  const hex = g.map(x => x.toString(16))
  if (best < 0) { return hex.join(':') }
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`
}

export interface AuthorityKeyIdentifier {
  keyIdentifier?: Uint8Array
  /** authorityCertIssuer present (the mesh does not use it). */
  hasIssuer: boolean
  serial?: Uint8Array
}

/** AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier, [1] authorityCertIssuer, [2] serial } */
export function decodeAuthorityKeyIdentifier (node: DerNode): AuthorityKeyIdentifier {
  expectTag(node, TAG.SEQUENCE, 'AuthorityKeyIdentifier')
  const out: AuthorityKeyIdentifier = { hasIssuer: false }
  let last = -1
  for (const child of node.children) {
    if (child.tagClass !== 2 || child.tagNumber <= last || child.tagNumber > 2) {
      throw new X509FormatError('MALFORMED_EXTENSION', 'malformed AuthorityKeyIdentifier')
    }
    last = child.tagNumber
    if (child.tag === 0x80) { out.keyIdentifier = content(child) } else if (child.tag === 0xa1) {
      decodeGeneralNames({ ...child, tag: TAG.SEQUENCE })
      out.hasIssuer = true
    } else if (child.tag === 0x82) { out.serial = readIntegerBytes({ ...child, tag: TAG.INTEGER }) } else { throw new X509FormatError('MALFORMED_EXTENSION', 'malformed AuthorityKeyIdentifier element') }
  }
  return out
}

/** SubjectKeyIdentifier ::= OCTET STRING */
export function decodeSubjectKeyIdentifier (node: DerNode): Uint8Array {
  const c = content(expectTag(node, TAG.OCTET_STRING, 'SubjectKeyIdentifier'))
  if (c.length === 0) { throw new X509FormatError('MALFORMED_EXTENSION', 'empty SubjectKeyIdentifier') }
  return c
}

/** AuthorityInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX) OF AccessDescription; checked for shape only. */
export function checkAuthorityInfoAccess (node: DerNode): void {
  expectTag(node, TAG.SEQUENCE, 'AuthorityInfoAccessSyntax')
  if (node.children.length === 0) { throw new X509FormatError('MALFORMED_EXTENSION', 'empty AuthorityInfoAccess') }
  for (const ad of node.children) {
    expectTag(ad, TAG.SEQUENCE, 'AccessDescription')
    if (ad.children.length !== 2) { throw new X509FormatError('MALFORMED_EXTENSION', 'malformed AccessDescription') }
    readOid(ad.children[0])
    addGeneralName(ad.children[1], { uri: [], dns: [], email: [], ip: [], directory: [], other: [] })
  }
}
