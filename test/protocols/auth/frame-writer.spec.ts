import { lpStream, streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { directWrites, queueFrames } from '../../../protocols/auth/frame-writer.ts'

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

  it('refuses to queue once the signal has aborted, or once the stream is gone', async () => {
    const [out] = await streamPair()
    const controller = new AbortController()
    controller.abort(new Error('deadline'))
    expect(() => { queueFrames(out, [Uint8Array.of(1)], controller.signal) }).to.throw('deadline')
    out.abort(new Error('gone'))
    expect(() => { queueFrames(out, [Uint8Array.of(1)]) }).to.throw()
  })

  it('a write resolves without waiting for the stream to drain, and everything queued arrives in order', async () => {
    const [out, inb] = await streamPair()
    const writer = directWrites(lpStream(out), out)
    const big = new Uint8Array(60_000).fill(7)
    // Several writes back to back, none awaited for drain: the stream sends them as it can.
    await Promise.all([writer.write(big), writer.write(Uint8Array.of(8)), writer.writeV([big, Uint8Array.of(9)])])
    const reader = lpStream(inb, { maxDataLength: 100_000 })
    const sizes: number[] = []
    for (let i = 0; i < 4; i++) { sizes.push((await reader.read({ signal: AbortSignal.timeout(5_000) })).byteLength) }
    expect(sizes).to.deep.equal([60_000, 1, 60_000, 1])
  })
})
