import { streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { decodeFrame, encodeFrame } from '../../../protocols/bundle/codec.ts'
import { MAX_ACK_FRAME_BYTES, MAX_FRAME_BYTES } from '../../../protocols/bundle/constants.ts'
import { FrameStream } from '../../../protocols/bundle/frame-stream.ts'
import { FRAME_ENVELOPE_BYTES } from '../../../src/dtn/create-bundle.ts'

function errorOf (fn: () => unknown): any {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

const id = { source: 'node-a', createdAt: 1772366400000, sequence: 3 }

describe('protocols / bundle: frame codec', () => {
  it('round-trips bundle and ACK frames', () => {
    const b = { t: 1 as const, v: 1, b: new Uint8Array([0x9f, 1, 0xff]), c: 4 }
    expect(decodeFrame(encodeFrame(b))).to.deep.equal(b)
    const ack = { t: 2 as const, id, offset: 65_000, status: 'rejected' as const, code: 'BAD_SIGNATURE' }
    expect(decodeFrame(encodeFrame(ack))).to.deep.equal(ack)
    expect(decodeFrame(encodeFrame({ t: 2, id, offset: 0, status: 'accepted' }))).to.deep.equal({ t: 2, id, offset: 0, status: 'accepted' })
  })

  it('keeps the frame envelope within what fragmentation reserves for it', () => {
    const payload = new Uint8Array(MAX_FRAME_BYTES - 100)
    expect(encodeFrame({ t: 1, v: 1, b: payload, c: 1024 }).length - payload.length).to.be.at.most(FRAME_ENVELOPE_BYTES)
  })

  it('a frame over the limit: FRAME_TOO_LARGE, before any decoding', () => {
    // not even CBOR: the size check comes first
    expect(errorOf(() => decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1).fill(0xff)))).to.include({ name: 'BundleProtocolError', code: 'FRAME_TOO_LARGE' })
    expect(errorOf(() => encodeFrame({ t: 1, v: 1, b: new Uint8Array(MAX_FRAME_BYTES), c: 1 }))).to.include({ name: 'BundleProtocolError', code: 'FRAME_TOO_LARGE' })
    const bigAck = encode({ t: 2, s: 'node-a', ct: id.createdAt, q: 0, o: 0, st: 'rejected', code: 'x'.repeat(MAX_ACK_FRAME_BYTES) })
    expect(errorOf(() => decodeFrame(bigAck))).to.include({ name: 'BundleProtocolError', code: 'FRAME_TOO_LARGE' })
  })

  it('a length prefix over the limit (2^64-1, or one that never ends) is refused before any body byte is read', async () => {
    for (const prefix of [
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 2^64-1
      [0x81, 0x80, 0x04], // 65 537: one over the 64 KiB limit
      new Array(4096).fill(0xff) // a prefix that never ends
    ]) {
      const [out, inb] = await streamPair()
      const frames = new FrameStream(inb)
      out.send(Uint8Array.from(prefix))
      const err = await frames.read({ signal: AbortSignal.timeout(2000) }).catch(e => e)
      expect(err).to.include({ name: 'BundleProtocolError', code: 'FRAME_TOO_LARGE' })
    }
  })

  it('frames cross a stream both ways; a clean close between frames reads as null', async () => {
    const [out, inb] = await streamPair()
    const a = new FrameStream(out)
    const b = new FrameStream(inb)
    const bundle = { t: 1 as const, v: 1, b: new Uint8Array(60_000).fill(9), c: 2 }
    await a.write(bundle)
    expect(await b.read()).to.deep.equal(bundle)
    await b.write({ t: 2, id, offset: 0, status: 'accepted' })
    expect(await a.read()).to.deep.equal({ t: 2, id, offset: 0, status: 'accepted' })
    await out.close()
    expect(await b.read({ signal: AbortSignal.timeout(2000) })).to.equal(null)
  })

  it('an ACK naming an id with LevelDB separator bytes: INVALID_ID', () => {
    for (const s of ['node-a\x00', 'a!b', '!dtn-bundles!', 'x\xff']) {
      const bytes = encode({ t: 2, s, ct: id.createdAt, q: 0, o: 0, st: 'accepted' })
      expect(errorOf(() => decodeFrame(bytes))).to.include({ name: 'BundleError', code: 'INVALID_ID' })
    }
  })

  it('malformed frames: MALFORMED_FRAME or UNSUPPORTED_VERSION', () => {
    expect(errorOf(() => decodeFrame(encode([1, 2])))).to.include({ code: 'MALFORMED_FRAME' })
    expect(errorOf(() => decodeFrame(encode({ t: 1, v: 1, b: new Uint8Array(1), c: 0 })))).to.include({ code: 'MALFORMED_FRAME' })
    expect(errorOf(() => decodeFrame(encode({ t: 1, v: 1, b: new Uint8Array(1), c: 1, x: 1 })))).to.include({ code: 'MALFORMED_FRAME' })
    expect(errorOf(() => decodeFrame(encode({ t: 1, v: 2, b: new Uint8Array(1), c: 1 })))).to.include({ code: 'UNSUPPORTED_VERSION' })
    expect(errorOf(() => decodeFrame(encode({ t: 2, s: 'node-a', ct: id.createdAt, q: 0, o: 0, st: 'maybe' })))).to.include({ code: 'MALFORMED_FRAME' })
    expect(errorOf(() => decodeFrame(encode({ t: 1, v: 1, b: { nested: [1] }, c: 1 })))).to.include({ code: 'MALFORMED_FRAME' })
  })

  it('drops ACK codes it does not know instead of echoing them', () => {
    const f = decodeFrame(encode({ t: 2, s: 'node-a', ct: id.createdAt, q: 0, o: 0, st: 'rejected', code: 'PWNED\n' }))
    expect(f).to.not.have.property('code')
  })
})
