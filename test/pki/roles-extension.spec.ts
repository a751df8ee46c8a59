import { expect } from 'aegir/chai'
import { decodeRoles, encodeRoles, isValidRole, MAX_ROLES, normalizeRoles, ROLES_OID, rolesOf } from '../../src/pki/roles-extension.ts'
import { encodeTlv, TAG } from '../../src/util/der.ts'
import type { Certificate } from '../../src/pki/certificate.ts'

const utf8 = (s: string): Uint8Array => encodeTlv(TAG.UTF8_STRING, new TextEncoder().encode(s))
const seq = (...items: Uint8Array[]): Uint8Array => encodeTlv(TAG.SEQUENCE, Buffer.concat(items))

/** Decoding must fail with MALFORMED_EXTENSION, never another error. */
function refused (value: Uint8Array): void {
  let err: any
  try { decodeRoles(value) } catch (e) { err = e }
  expect(err, 'decoded').to.include({ name: 'X509FormatError', code: 'MALFORMED_EXTENSION' })
}

/** Just enough of a Certificate for rolesOf, which reads only the extensions. */
const certWith = (critical: boolean, value: Uint8Array): Certificate => ({ extensions: new Map([[ROLES_OID, { oid: ROLES_OID, critical, value }]]) }) as unknown as Certificate

describe('pki: the roles extension (MeshRoles)', () => {
  it('sits at 1.3.6.1.4.1.32473.77.1.2, next to the attested-device extension', () => {
    expect(ROLES_OID).to.equal('1.3.6.1.4.1.32473.77.1.2')
    expect(MAX_ROLES).to.equal(16)
  })

  it('encodes a SEQUENCE OF UTF8String, sorted and unique, to the exact bytes', () => {
    const der = encodeRoles(['relay', 'gateway', 'relay'])
    expect(Buffer.from(der).toString('hex')).to.equal('3010' + '0c07' + Buffer.from('gateway').toString('hex') + '0c05' + Buffer.from('relay').toString('hex'))
    expect(decodeRoles(der)).to.deep.equal(['gateway', 'relay'])
  })

  it('round-trips 16 roles of the longest name', () => {
    const roles = Array.from({ length: 16 }, (_, i) => `r${String(i).padStart(2, '0')}${'x'.repeat(29)}`)
    expect(roles.every(isValidRole)).to.equal(true)
    expect(decodeRoles(encodeRoles(roles))).to.deep.equal(roles)
  })

  it('names: a lower-case letter first, then [a-z0-9-], 1..32 characters', () => {
    for (const ok of ['a', 'ops', 'edge-gw2', 'a'.repeat(32)]) { expect(isValidRole(ok), ok).to.equal(true) }
    for (const bad of ['', 'A', 'Ops', '1ops', '-ops', 'ops_1', 'ops.1', 'a'.repeat(33), 'ops ', 'é']) { expect(isValidRole(bad), bad).to.equal(false) }
  })

  it('normalizeRoles sorts, drops repeats, and refuses bad names and a 17th role (RangeError)', () => {
    expect(normalizeRoles(['b', 'a', 'b'])).to.deep.equal(['a', 'b'])
    expect(normalizeRoles([])).to.deep.equal([])
    expect(() => normalizeRoles(['Admin'])).to.throw(RangeError)
    expect(() => normalizeRoles(Array.from({ length: 17 }, (_, i) => `r${i}`))).to.throw(RangeError)
    expect(() => encodeRoles([])).to.throw(RangeError)
  })

  it('the decoder refuses anything but the canonical form (MALFORMED_EXTENSION)', () => {
    refused(seq()) // SIZE (1..16): empty
    refused(seq(...Array.from({ length: 17 }, (_, i) => utf8(`r${String(i).padStart(2, '0')}`)))) // 17 roles
    refused(seq(utf8('relay'), utf8('gateway'))) // unsorted
    refused(seq(utf8('ops'), utf8('ops'))) // duplicate
    refused(seq(utf8('Ops'))) // upper case
    refused(seq(utf8('9ops'))) // digit first
    refused(seq(utf8('a'.repeat(33)))) // too long
    refused(seq(utf8('ops\u0000'))) // NUL smuggled in
    refused(seq(encodeTlv(TAG.PRINTABLE_STRING, new TextEncoder().encode('ops')))) // not UTF8String
    refused(seq(encodeTlv(TAG.IA5_STRING, new TextEncoder().encode('ops'))))
    refused(encodeTlv(TAG.SET, utf8('ops'))) // SET, not SEQUENCE
    refused(utf8('ops')) // a bare string
    refused(Buffer.concat([encodeRoles(['ops']), Uint8Array.of(0)])) // trailing byte
    refused(Uint8Array.of(0x30, 0x05, 0x0c, 0x03, 0x6f)) // truncated
    refused(new Uint8Array(0))
  })

  it('rolesOf: empty without the extension, the roles with it, MALFORMED_EXTENSION when critical or broken', () => {
    expect(rolesOf({ extensions: new Map() } as unknown as Certificate)).to.deep.equal([])
    expect(rolesOf(certWith(false, encodeRoles(['ops', 'edge'])))).to.deep.equal(['edge', 'ops'])
    expect(() => rolesOf(certWith(true, encodeRoles(['ops'])))).to.throw().with.property('code', 'MALFORMED_EXTENSION')
    expect(() => rolesOf(certWith(false, seq(utf8('b'), utf8('a'))))).to.throw().with.property('code', 'MALFORMED_EXTENSION')
  })
})
