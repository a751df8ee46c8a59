import { expect } from 'aegir/chai'
import { derToPem, parsePem, pemToDer, pemToDerAll } from '../../src/util/pem.ts'
import { makeCert, thrown } from './fixtures.ts'

describe('pem: strict PEM reader', () => {
  let der: Uint8Array
  let pem: string
  before(async () => {
    der = (await makeCert({ name: 'pem', ca: true })).der
    pem = derToPem(der, 'CERTIFICATE')
  })

  it('round-trips DER through PEM', () => {
    expect(pemToDer(pem, 'CERTIFICATE')).to.deep.equal(der)
    expect(pemToDerAll(pem + pem, 'CERTIFICATE')).to.have.length(2)
  })

  it('malformed PEM (bad base64 in the body) -> MALFORMED_PEM', () => {
    const bad = pem.replace(/\n([A-Za-z0-9+/]{8})/, '\n!!!!!!!!')
    expect(thrown(() => parsePem(bad))).to.include({ name: 'EncodingError', code: 'MALFORMED_PEM' })
  })

  it('truncated PEM (no END line, or a body cut short) -> MALFORMED_PEM', () => {
    expect(thrown(() => parsePem(pem.slice(0, pem.length / 2)))).to.include({ name: 'EncodingError', code: 'MALFORMED_PEM' })
    const lines = pem.trim().split('\n')
    const cut = [...lines.slice(0, 2), lines[2].slice(0, 13), lines[lines.length - 1]].join('\n')
    expect(thrown(() => parsePem(cut))).to.include({ name: 'EncodingError', code: 'MALFORMED_PEM' })
  })

  it('DER where PEM was expected -> DER_WHERE_PEM_EXPECTED', () => {
    expect(thrown(() => parsePem(der))).to.include({ name: 'EncodingError', code: 'DER_WHERE_PEM_EXPECTED' })
  })

  it('trailing garbage after the END line -> MALFORMED_PEM', () => {
    expect(thrown(() => parsePem(pem + 'garbage\n'))).to.include({ name: 'EncodingError', code: 'MALFORMED_PEM' })
  })

  it('a PEM of the wrong label -> PEM_LABEL_MISMATCH', () => {
    expect(thrown(() => pemToDer(pem, 'X509 CRL'))).to.include({ name: 'EncodingError', code: 'PEM_LABEL_MISMATCH' })
  })
})
