import { encoded, expectTag, readOid, readString, TAG } from '../util/der.ts'
import { X509FormatError } from './x509-errors.ts'
import type { DerNode } from '../util/der.ts'

/**
 * X.501 Names with a comparable form. Chaining compares names (RFC 5280 §7.1): string values are
 * compared after a simplified RFC 4518 preparation (Unicode NFKC, case folding, trimmed and
 * collapsed white space) regardless of which string type carries them, so PrintableString vs
 * UTF8String rollover and case or spacing differences still chain (PKITS 4.3). Values that are
 * not strings are compared by their DER.
 */

export interface AttributeValue {
  /** Attribute type OID, e.g. 2.5.4.3 for commonName. */
  type: string
  /** The value as text (string types) or `#<hex DER>` (anything else). */
  value: string
}

export interface Name {
  /** The Name's DER encoding as it appeared. */
  der: Uint8Array
  /** RDNs in encoded order, each a set of attribute values. */
  rdns: AttributeValue[][]
  /** Normalized comparable form: equal keys mean the names match under RFC 5280 §7.1. */
  key: string
  /** Human-readable form, e.g. `C=US, O=Mesh, CN=root` (encoded order). */
  text: string
  /** True for the empty sequence (no RDNs). */
  empty: boolean
}

const SHORT_NAMES = new Map<string, string>([
  ['2.5.4.3', 'CN'], ['2.5.4.4', 'SN'], ['2.5.4.5', 'serialNumber'], ['2.5.4.6', 'C'], ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'], ['2.5.4.10', 'O'], ['2.5.4.11', 'OU'], ['2.5.4.12', 'title'], ['2.5.4.42', 'GN'],
  ['2.5.4.46', 'dnQualifier'], ['2.5.4.65', 'pseudonym'], ['0.9.2342.19200300.100.1.25', 'DC'],
  ['0.9.2342.19200300.100.1.1', 'UID'], ['1.2.840.113549.1.9.1', 'emailAddress']
])

const STRING_TAGS: ReadonlySet<number> = new Set([
  TAG.UTF8_STRING, TAG.PRINTABLE_STRING, TAG.T61_STRING, TAG.IA5_STRING, TAG.VISIBLE_STRING,
  TAG.UNIVERSAL_STRING, TAG.BMP_STRING
])

/** Parses a Name (SEQUENCE OF RelativeDistinguishedName). */
export function parseName (node: DerNode): Name {
  expectTag(node, TAG.SEQUENCE, 'Name')
  const rdns: AttributeValue[][] = []
  const keyParts: string[][] = []
  for (const rdnNode of node.children) {
    expectTag(rdnNode, TAG.SET, 'RelativeDistinguishedName')
    if (rdnNode.children.length === 0) {
      throw new X509FormatError('MALFORMED_NAME', 'empty RelativeDistinguishedName')
    }
    const rdn: AttributeValue[] = []
    const keys: string[] = []
    for (const avaNode of rdnNode.children) {
      expectTag(avaNode, TAG.SEQUENCE, 'AttributeTypeAndValue')
      if (avaNode.children.length !== 2) {
        throw new X509FormatError('MALFORMED_NAME', 'AttributeTypeAndValue must have a type and a value')
      }
      const type = readOid(avaNode.children[0])
      const valueNode = avaNode.children[1]
      if (STRING_TAGS.has(valueNode.tag)) {
        let text: string
        try {
          text = readString(valueNode)
        } catch (err) {
          throw new X509FormatError('MALFORMED_NAME', `bad string in name attribute ${type}`, { cause: err })
        }
        rdn.push({ type, value: text })
        keys.push(`${type}=${prepareString(text)}`)
      } else {
        const hex = Buffer.from(encoded(valueNode)).toString('hex')
        rdn.push({ type, value: `#${hex}` })
        keys.push(`${type}#${hex}`)
      }
    }
    // A RDN is a set: order inside it does not matter.
    keys.sort()
    rdns.push(rdn)
    keyParts.push(keys)
  }
  return {
    der: encoded(node),
    rdns,
    // JSON keeps the form unambiguous whatever characters the values hold.
    key: JSON.stringify(keyParts),
    text: rdns.map(rdn => rdn.map(a => `${SHORT_NAMES.get(a.type) ?? a.type}=${a.value}`).join(' + ')).join(', '),
    empty: rdns.length === 0
  }
}

/** True when two names match under RFC 5280 §7.1 (as far as this module normalizes). */
export function namesEqual (a: Name, b: Name): boolean {
  return a.key === b.key
}

/** The value of the last commonName in a name, if any. */
export function commonName (name: Name): string | undefined {
  let cn: string | undefined
  for (const rdn of name.rdns) { for (const a of rdn) { if (a.type === '2.5.4.3') { cn = a.value } } }
  return cn
}

/** Simplified RFC 4518 string preparation for caseIgnoreMatch. */
function prepareString (s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim()
}
