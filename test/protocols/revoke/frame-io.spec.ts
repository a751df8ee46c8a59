import { streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { MAX_FRAME_BYTES } from '../../../protocols/revoke/constants.ts'
import { RevokeFrameIo, encodeVarint } from '../../../protocols/revoke/frame-io.ts'

/** The revoke push framing: one length-prefixed CBOR frame, size checked from the prefix. */
describe('revoke push: frame reader and writer', () => {
  async function reject (bytes: Uint8Array): Promise<string> {
    const [out, inb] = await streamPair()
    out.send(bytes)
    const err = await new RevokeFrameIo(inb).read({ signal: AbortSignal.timeout(2_000) }).then(() => undefined, (e: any) => `${String(e.name)}/${String(e.code)}`)
    return err as string
  }

  it('writes and reads a push and a result', async () => {
    const [out, inb] = await streamPair()
    const [a, b] = [new RevokeFrameIo(out), new RevokeFrameIo(inb)]
    const crl = new Uint8Array(1000).fill(7)
    await a.write({ t: 1, v: 1, crl })
    expect(await b.read()).to.deep.equal({ t: 1, v: 1, crl })
    await b.write({ t: 2, ok: false, code: 'NOT_NEWER' })
    expect(await a.read()).to.deep.equal({ t: 2, ok: false, code: 'NOT_NEWER' })
  })

  it('refuses a declared length above the limit before reading a body byte', async () => {
    expect(await reject(encodeVarint(MAX_FRAME_BYTES + 1))).to.equal('RevokeError/FRAME_TOO_LARGE')
  })

  it('refuses a prefix longer than the limit needs (it would never end)', async () => {
    expect(await reject(Uint8Array.of(0x80, 0x80, 0x80, 0x80))).to.equal('RevokeError/FRAME_TOO_LARGE')
  })

  it('refuses an empty frame and a body that is not a frame', async () => {
    expect(await reject(Uint8Array.of(0))).to.equal('RevokeError/MALFORMED_MESSAGE')
    const body = encode({ t: 9 })
    expect(await reject(Uint8Array.from([...encodeVarint(body.length), ...body]))).to.equal('RevokeError/MALFORMED_MESSAGE')
  })
})
