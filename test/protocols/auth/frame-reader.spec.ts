import { lpStream, streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { MAX_FRAME_BYTES, MAX_READ_BUFFER_BYTES } from '../../../protocols/auth/constants.ts'
import { frameReaderOf } from '../../../protocols/auth/frame-reader.ts'
import { encodeVarint } from '../../../src/util/varint-frames.ts'

const framed = (...frames: Uint8Array[]): Uint8Array => Buffer.concat(frames.flatMap(f => [encodeVarint(f.byteLength), f]))
const deadline = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(5_000) })

describe('auth frame reader', () => {
  it('cuts whole frames out of bytes that come in arbitrary pieces, the length prefix split too', async () => {
    const [out, inb] = await streamPair()
    const reader = frameReaderOf(inb)
    const bytes = framed(Uint8Array.of(1, 2, 3), new Uint8Array(300).fill(4), Uint8Array.of())
    const frames = [reader.read(deadline()), reader.read(deadline())]
    // 300 needs a two-byte prefix: cut between its bytes, and inside the frames.
    for (const [from, to] of [[0, 2], [2, 5], [5, 6], [6, 100], [100, bytes.byteLength]]) { out.send(bytes.subarray(from, to)) }
    expect([...await frames[0]]).to.deep.equal([1, 2, 3])
    expect((await frames[1]).byteLength).to.equal(300)
    expect((await reader.read(deadline())).byteLength).to.equal(0)
    expect(frameReaderOf(inb)).to.equal(reader)
  })

  it('a frame longer than MAX_FRAME_BYTES is FRAME_TOO_LARGE before its body is read', async () => {
    const [out, inb] = await streamPair()
    out.send(encodeVarint(MAX_FRAME_BYTES + 1))
    expect(await frameReaderOf(inb).read(deadline()).catch(e => e)).to.include({ name: 'AuthError', code: 'FRAME_TOO_LARGE' })
  })

  it('a length prefix longer than MAX_FRAME_BYTES needs is FRAME_TOO_LARGE', async () => {
    const [out, inb] = await streamPair()
    out.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x01))
    expect(await frameReaderOf(inb).read(deadline()).catch(e => e)).to.include({ name: 'AuthError', code: 'FRAME_TOO_LARGE' })
  })

  it('more than MAX_READ_BUFFER_BYTES unread is FRAME_TOO_LARGE and the stream is aborted', async () => {
    const [out, inb] = await streamPair()
    const reader = frameReaderOf(inb)
    // Whole frames, each allowed, that nobody reads.
    const frame = new Uint8Array(MAX_FRAME_BYTES - 8)
    for (let i = 0; i * frame.byteLength <= MAX_READ_BUFFER_BYTES; i++) { out.send(framed(frame)) }
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(await reader.read(deadline()).catch(e => e)).to.include({ name: 'AuthError', code: 'FRAME_TOO_LARGE' })
    expect(inb.status).to.equal('aborted')
  })

  it('a stream that ends inside a frame is CLOSED, not a hang', async () => {
    const [out, inb] = await streamPair()
    out.send(framed(new Uint8Array(10)).subarray(0, 5))
    await out.close()
    expect(await frameReaderOf(inb).read(deadline()).catch(e => e)).to.include({ name: 'AuthError', code: 'CLOSED' })
  })

  it('a stream that ended before the reader was made still gives its frames, then CLOSED', async () => {
    const [out, inb] = await streamPair()
    out.send(framed(Uint8Array.of(5)))
    await out.close()
    await new Promise(resolve => setTimeout(resolve, 20))
    const reader = frameReaderOf(inb)
    expect([...await reader.read(deadline())]).to.deep.equal([5])
    expect(await reader.read(deadline()).catch(e => e)).to.include({ name: 'AuthError', code: 'CLOSED' })
  })

  it('waits no longer than its signal: the rejection is the signal\'s reason', async () => {
    const [, inb] = await streamPair()
    const controller = new AbortController()
    const reading = frameReaderOf(inb).read({ signal: controller.signal }).catch(e => e)
    controller.abort(new Error('deadline'))
    expect(await reading).to.have.property('message', 'deadline')
  })

  it('release puts the given bytes and everything unread back on the stream, in order, for another reader', async () => {
    const [out, inb] = await streamPair()
    const reader = frameReaderOf(inb)
    out.send(framed(Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)))
    const first = await reader.read(deadline())
    reader.release([...encodeVarint(first.byteLength), ...first].map(b => Uint8Array.of(b)))
    expect(await reader.read(deadline()).catch(e => e)).to.include({ name: 'AuthError', code: 'CLOSED' })
    const lp = lpStream(inb)
    const got: number[] = []
    for (let i = 0; i < 3; i++) { got.push((await lp.read(deadline())).subarray()[0]) }
    expect(got).to.deep.equal([1, 2, 3])
    // A released reader is out of the registry: the next user of the stream gets a new one.
    expect(frameReaderOf(inb)).to.not.equal(reader)
  })
})
