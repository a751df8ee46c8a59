import { lpStream, streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { directWrites, sendFrames } from '../../../protocols/auth/frame-writer.ts'

describe('auth frame writer', () => {
  it('frames sent in one buffer read back one by one, the held-back prefix first and only once', async () => {
    const [out, inb] = await streamPair()
    const writer = directWrites(lpStream(out), out, [Uint8Array.of(1)])
    await writer.writeV([Uint8Array.of(2, 2), new Uint8Array(300).fill(3)])
    await writer.write(Uint8Array.of(4))
    const reader = lpStream(inb)
    const got: number[][] = []
    for (let i = 0; i < 4; i++) { got.push([...(await reader.read()).subarray()].slice(0, 2)) }
    expect(got).to.deep.equal([[1], [2, 2], [3, 3], [4]])
  })

  it('refuses to write once the signal has aborted, and rejects a wait for drain when the stream closes', async () => {
    const [out] = await streamPair()
    const controller = new AbortController()
    controller.abort(new Error('deadline'))
    const err = await sendFrames(out, [Uint8Array.of(1)], controller.signal).catch(e => e)
    expect(err).to.have.property('message', 'deadline')
    out.abort(new Error('gone'))
    expect(await sendFrames(out, [Uint8Array.of(1)]).catch(e => e)).to.be.an('error')
  })
})
