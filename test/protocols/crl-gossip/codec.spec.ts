import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { decodeCrlMessage, encodeCrlMessage } from '../../../protocols/crl-gossip/codec.ts'
import { MAX_CRL_MESSAGE_BYTES } from '../../../protocols/crl-gossip/constants.ts'

function codeOf (fn: () => unknown): string | undefined {
  try { fn() } catch (err: any) { return `${err.name as string}/${err.code as string}` }
  return undefined
}

describe('crl gossip: codec', () => {
  it('round-trips a CRL message and refuses extra fields, nesting and newer versions', () => {
    const der = Uint8Array.of(0x30, 0x00)
    expect(decodeCrlMessage(encodeCrlMessage(der))).to.deep.equal({ v: 1, crl: der })
    expect(codeOf(() => decodeCrlMessage(encode({ v: 1, crl: der, x: 1 })))).to.equal('CrlMessageError/MALFORMED')
    expect(codeOf(() => decodeCrlMessage(encode({ v: 1, crl: [der] })))).to.equal('CrlMessageError/MALFORMED')
    expect(codeOf(() => decodeCrlMessage(encode({ v: 3, crl: der })))).to.equal('CrlMessageError/UNSUPPORTED_VERSION')
  })

  it('checks the size before decoding, on both sides', () => {
    expect(codeOf(() => decodeCrlMessage(new Uint8Array(MAX_CRL_MESSAGE_BYTES + 1)))).to.equal('CrlMessageError/TOO_LARGE')
    expect(codeOf(() => encodeCrlMessage(new Uint8Array(MAX_CRL_MESSAGE_BYTES)))).to.equal('CrlMessageError/TOO_LARGE')
    expect(codeOf(() => encodeCrlMessage(new Uint8Array(0)))).to.equal('CrlMessageError/MALFORMED')
  })
})
