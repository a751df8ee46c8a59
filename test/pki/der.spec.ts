import { expect } from 'aegir/chai'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { decodeDer, encodeTlv, readInteger, readOid, readTime, TAG } from '../../src/util/der.ts'
import { deepSequence, makeCert, thrown } from './fixtures.ts'

describe('der: strict DER reader', () => {
  it('reads a certificate-shaped structure and refuses trailing garbage (TRAILING_DATA)', async () => {
    const { der } = await makeCert({ name: 'x', ca: true })
    expect(decodeDer(der).children).to.have.length(3)
    const withGarbage = Uint8Array.from([...der, 0x00])
    expect(thrown(() => decodeDer(withGarbage))).to.include({ name: 'EncodingError', code: 'TRAILING_DATA' })
    expect(thrown(() => parseCertificate(withGarbage))).to.include({ name: 'EncodingError', code: 'TRAILING_DATA' })
  })

  it('refuses truncated DER (TRUNCATED_DER)', async () => {
    const { der } = await makeCert({ name: 'x', ca: true })
    expect(thrown(() => parseCertificate(der.subarray(0, der.length - 10)))).to.include({ name: 'EncodingError', code: 'TRUNCATED_DER' })
    expect(thrown(() => decodeDer(Uint8Array.of(0x30)))).to.include({ code: 'TRUNCATED_DER' })
  })

  it('refuses a 10,000-deep ASN.1 nesting quickly (NESTING_TOO_DEEP), without recursing 10,000 times', () => {
    const bomb = deepSequence(10_000)
    const started = performance.now()
    expect(thrown(() => decodeDer(bomb))).to.include({ name: 'EncodingError', code: 'NESTING_TOO_DEEP' })
    expect(thrown(() => parseCertificate(bomb))).to.include({ name: 'EncodingError', code: 'NESTING_TOO_DEEP' })
    expect(performance.now() - started).to.be.below(100)
  })

  it('accepts nesting up to the limit and no further', () => {
    expect(() => decodeDer(deepSequence(33))).to.not.throw()
    expect(thrown(() => decodeDer(deepSequence(34)))).to.include({ code: 'NESTING_TOO_DEEP' })
  })

  it('refuses indefinite and non-minimal lengths (MALFORMED_DER)', () => {
    expect(thrown(() => decodeDer(Uint8Array.of(0x30, 0x80, 0x00, 0x00)))).to.include({ code: 'MALFORMED_DER' })
    expect(thrown(() => decodeDer(Uint8Array.of(0x04, 0x81, 0x01, 0x00)))).to.include({ code: 'MALFORMED_DER' })
  })

  it('refuses non-minimal INTEGERs and reads negatives', () => {
    expect(thrown(() => readInteger(decodeDer(Uint8Array.of(0x02, 0x02, 0x00, 0x01))))).to.include({ code: 'MALFORMED_DER' })
    expect(readInteger(decodeDer(Uint8Array.of(0x02, 0x01, 0xff)))).to.equal(-1n)
  })

  it('reads OIDs and RFC 5280 times', () => {
    expect(readOid(decodeDer(Uint8Array.from(Buffer.from('06082a8648ce3d030107', 'hex'))))).to.equal('1.2.840.10045.3.1.7')
    const utc = encodeTlv(TAG.UTC_TIME, new TextEncoder().encode('491231235959Z'))
    expect(readTime(decodeDer(utc))).to.equal(Date.UTC(2049, 11, 31, 23, 59, 59))
    const frac = encodeTlv(TAG.GENERALIZED_TIME, new TextEncoder().encode('20500101000000.5Z'))
    expect(thrown(() => readTime(decodeDer(frac)))).to.include({ code: 'MALFORMED_DER' })
  })
})
