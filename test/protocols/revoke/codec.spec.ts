import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { decodeRevokeFrame, encodeRevokeFrame } from '../../../protocols/revoke/codec.ts'
import { MAX_FRAME_BYTES } from '../../../protocols/revoke/constants.ts'

function codeOf (fn: () => unknown): string | undefined {
  try { fn() } catch (err: any) { return `${err.name as string}/${err.code as string}` }
  return undefined
}

describe('revoke push: codec', () => {
  it('round-trips push and result frames', () => {
    const crl = Uint8Array.of(0x30, 0x00)
    expect(decodeRevokeFrame(encodeRevokeFrame({ t: 1, v: 1, crl }))).to.deep.equal({ t: 1, v: 1, crl })
    expect(decodeRevokeFrame(encodeRevokeFrame({ t: 2, ok: true }))).to.deep.equal({ t: 2, ok: true })
    expect(decodeRevokeFrame(encodeRevokeFrame({ t: 2, ok: false, code: 'NOT_NEWER' }))).to.deep.equal({ t: 2, ok: false, code: 'NOT_NEWER' })
  })

  it('checks the size before decoding', () => {
    expect(codeOf(() => decodeRevokeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)))).to.equal('RevokeError/FRAME_TOO_LARGE')
  })

  it('refuses other shapes and versions, and drops codes it does not know', () => {
    expect(codeOf(() => decodeRevokeFrame(encode({ t: 1, v: 2, crl: Uint8Array.of(1) })))).to.equal('RevokeError/UNSUPPORTED_VERSION')
    expect(codeOf(() => decodeRevokeFrame(encode({ t: 1, v: 1, crl: Uint8Array.of(1), x: 1 })))).to.equal('RevokeError/MALFORMED_MESSAGE')
    expect(codeOf(() => decodeRevokeFrame(encode({ t: 3 })))).to.equal('RevokeError/MALFORMED_MESSAGE')
    expect(codeOf(() => decodeRevokeFrame(encode({ t: 1, v: 1, crl: [Uint8Array.of(1)] })))).to.equal('RevokeError/MALFORMED_MESSAGE')
    expect(decodeRevokeFrame(encode({ t: 2, ok: false, code: 'SOMETHING_ELSE' }))).to.deep.equal({ t: 2, ok: false })
  })
})
