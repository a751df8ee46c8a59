import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { readCanonicalFrame } from '../../../protocols/auth/canonical-frame.ts'
import { decodeFrame, encodeFrame, encodeHello, encodeOpening, encodeProof } from '../../../protocols/auth/codec.ts'
import { MAX_FRAME_BYTES, WIRE_VERSION } from '../../../protocols/auth/constants.ts'
import { decodeBounded } from '../../../src/util/bounded-cbor.ts'

const nonce = new Uint8Array(32).fill(7)
const cert = new Uint8Array(700).fill(1)

function codeOf (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err: any) {
    expect(err.name).to.equal('AuthError')
    return err.code
  }
  return undefined
}

describe('auth codec', () => {
  it('round-trips the three frames, in both of their shapes', () => {
    const hello = { t: 1 as const, v: WIRE_VERSION, chain: [cert, cert], nonce }
    expect(decodeFrame(encodeFrame(hello))).to.deep.equal(hello)
    expect(decodeFrame(encodeFrame({ t: 1, v: WIRE_VERSION, nonce }))).to.deep.equal({ t: 1, v: WIRE_VERSION, nonce })
    expect(decodeFrame(encodeFrame({ t: 2, sig: new Uint8Array(64), chain: [cert] }))).to.deep.equal({ t: 2, sig: new Uint8Array(64), chain: [cert] })
    expect(decodeFrame(encodeFrame({ t: 2, sig: new Uint8Array(64) }))).to.deep.equal({ t: 2, sig: new Uint8Array(64) })
    expect(decodeFrame(encodeFrame({ t: 3, ok: true }))).to.deep.equal({ t: 3, ok: true })
    expect(decodeFrame(encodeFrame({ t: 3, ok: false, code: 'REVOKED' }))).to.deep.equal({ t: 3, ok: false, code: 'REVOKED' })
  })

  it('a hello from the per-chain template is byte for byte the encoded frame, for any nonce', () => {
    for (const chain of [[cert], [cert, new Uint8Array(437).fill(2)], [new Uint8Array(30).fill(3), cert, cert]]) {
      for (let i = 0; i < 4; i++) {
        const fresh = new Uint8Array(randomBytes(32))
        expect(encodeHello(chain, fresh)).to.deep.equal(encodeFrame({ t: 1, v: WIRE_VERSION, chain, nonce: fresh }))
      }
    }
    expect(codeOf(() => encodeHello([cert], new Uint8Array(31)))).to.equal('MALFORMED_MESSAGE')
  })

  it("the opener's hello is byte for byte the encoded frame and carries nothing but version and nonce", () => {
    for (let i = 0; i < 4; i++) {
      const fresh = new Uint8Array(randomBytes(32))
      const bytes = encodeOpening(fresh)
      expect(bytes).to.deep.equal(encodeFrame({ t: 1, v: WIRE_VERSION, nonce: fresh }))
      expect(Object.keys(decodeFrame(bytes)).sort()).to.deep.equal(['nonce', 't', 'v'])
    }
    expect(codeOf(() => encodeOpening(new Uint8Array(31)))).to.equal('MALFORMED_MESSAGE')
  })

  it('a proof written directly is byte for byte the encoded frame; an unusable signature of ours is LOCAL_CREDENTIALS', () => {
    for (const n of [1, 23, 24, 64, 72, 160]) {
      const sig = new Uint8Array(randomBytes(n))
      expect(encodeProof(sig)).to.deep.equal(encodeFrame({ t: 2, sig }))
      for (const chain of [[cert], [cert, new Uint8Array(437).fill(2)], []]) {
        expect(encodeProof(sig, chain)).to.deep.equal(encodeFrame({ t: 2, sig, chain }))
      }
    }
    expect(codeOf(() => encodeProof(new Uint8Array(64), [new Uint8Array(MAX_FRAME_BYTES)]))).to.equal('FRAME_TOO_LARGE')
    expect(codeOf(() => encodeProof(new Uint8Array(0)))).to.equal('LOCAL_CREDENTIALS')
    expect(codeOf(() => encodeProof(new Uint8Array(161)))).to.equal('LOCAL_CREDENTIALS')
  })

  it('refuses an oversized frame before decoding it (FRAME_TOO_LARGE)', () => {
    expect(codeOf(() => decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)))).to.equal('FRAME_TOO_LARGE')
    expect(codeOf(() => encodeFrame({ t: 1, v: WIRE_VERSION, chain: [new Uint8Array(MAX_FRAME_BYTES)], nonce }))).to.equal('FRAME_TOO_LARGE')
  })

  it('refuses deep nesting before building objects (MALFORMED_MESSAGE)', () => {
    const deep = new Uint8Array(1000).fill(0x81) // [[[[...
    expect(codeOf(() => decodeFrame(deep))).to.equal('MALFORMED_MESSAGE')
    expect(codeOf(() => decodeFrame(encode({ t: 1, v: WIRE_VERSION, chain: [[cert]], nonce })))).to.equal('MALFORMED_MESSAGE')
  })

  it('refuses what is not strict CBOR or not our shape (MALFORMED_MESSAGE)', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['not CBOR', Uint8Array.from([0xff, 0x00])],
      ['indefinite map', Uint8Array.from([0xbf, 0x61, 0x74, 0x01, 0xff])],
      ['a tag', Uint8Array.from([0xc2, 0x41, 0x01])],
      ['an array', encode([1, 2])],
      ['unknown frame type', encode({ t: 9 })],
      ['unknown field', encode({ t: 2, sig: new Uint8Array(64), extra: 1 })],
      ['short nonce', encode({ t: 1, v: WIRE_VERSION, chain: [cert], nonce: new Uint8Array(31) })],
      ['chain of strings', encode({ t: 1, v: WIRE_VERSION, chain: ['x'], nonce })],
      ['five certificates', encode({ t: 1, v: WIRE_VERSION, chain: [cert, cert, cert, cert, cert], nonce })],
      ['proof chain of strings', encode({ t: 2, sig: new Uint8Array(64), chain: ['x'] })],
      ['proof chain not an array', encode({ t: 2, sig: new Uint8Array(64), chain: cert })],
      ['empty signature', encode({ t: 2, sig: new Uint8Array(0) })],
      ['verdict without ok', encode({ t: 3 })],
      ['duplicate keys', Uint8Array.from([0xa2, 0x61, 0x74, 0x02, 0x61, 0x74, 0x02])],
      ['trailing bytes', Uint8Array.from([...encode({ t: 3, ok: true }), 0x00])]
    ]
    for (const [what, bytes] of cases) {
      expect(codeOf(() => decodeFrame(bytes)), what).to.equal('MALFORMED_MESSAGE')
    }
  })

  it('refuses another wire version (UNSUPPORTED_VERSION)', () => {
    expect(codeOf(() => decodeFrame(encode({ t: 1, v: WIRE_VERSION + 1, nonce })))).to.equal('UNSUPPORTED_VERSION')
    // a version-1 hello (chain first) is refused by its version, not by its shape
    expect(codeOf(() => decodeFrame(encode({ t: 1, v: 1, chain: [cert], nonce })))).to.equal('UNSUPPORTED_VERSION')
  })

  it('drops a verdict code it does not know instead of echoing it into logs', () => {
    expect(decodeFrame(encode({ t: 3, ok: false, code: 'SOMETHING_<script>' }))).to.deep.equal({ t: 3, ok: false })
  })
})

describe('auth codec: the fast path for canonical frames', () => {
  const decodeSlow = (bytes: Uint8Array): unknown => decodeBounded(bytes, { maxDepth: 2, maxTokens: 32 })

  it('reads every frame encodeFrame writes exactly as the general decoder does', () => {
    const frames = [
      { t: 1 as const, v: WIRE_VERSION, chain: [cert, new Uint8Array(30).fill(2)], nonce },
      { t: 1 as const, v: WIRE_VERSION, chain: [], nonce },
      { t: 1 as const, v: WIRE_VERSION, chain: [new Uint8Array(300).fill(5)], nonce },
      { t: 2 as const, sig: new Uint8Array(72).fill(9) },
      { t: 2 as const, sig: new Uint8Array(20).fill(9) },
      { t: 1 as const, v: WIRE_VERSION, nonce },
      { t: 2 as const, sig: new Uint8Array(72).fill(9), chain: [cert, new Uint8Array(30).fill(2)] },
      { t: 3 as const, ok: true },
      { t: 3 as const, ok: false, code: 'REVOKED' as const }
    ]
    for (const frame of frames) {
      const bytes = encodeFrame(frame)
      const fast = readCanonicalFrame(bytes)
      expect(fast, JSON.stringify(Object.keys(frame))).to.not.equal(null)
      expect(fast).to.deep.equal(decodeSlow(bytes))
      expect(decodeFrame(bytes)).to.deep.equal(frame)
    }
  })

  it('leaves everything else to the general decoder: long-form heads, unsorted or unknown keys, other types, trailing bytes', () => {
    const proof = encodeFrame({ t: 2, sig: new Uint8Array(4).fill(1) })
    const cases: Array<[string, Uint8Array]> = [
      ['trailing byte', Uint8Array.from([...proof, 0])],
      ['long-form t', Uint8Array.from([0xa2, 0x61, 0x74, 0x18, 0x02, 0x63, 0x73, 0x69, 0x67, 0x44, 1, 1, 1, 1])],
      ['keys out of order', Uint8Array.from([0xa2, 0x63, 0x73, 0x69, 0x67, 0x44, 1, 1, 1, 1, 0x61, 0x74, 0x02])],
      ['unknown key', encode({ t: 2, xx: 1 })],
      ['duplicate key', Uint8Array.from([0xa2, 0x61, 0x74, 0x02, 0x61, 0x74, 0x02])],
      ['indefinite-length bytes', Uint8Array.from([0xa2, 0x61, 0x74, 0x02, 0x63, 0x73, 0x69, 0x67, 0x5f, 0x41, 1, 0xff])],
      ['sig as text', encode({ t: 2, sig: 'abc' })],
      ['cut short', proof.subarray(0, proof.byteLength - 1)],
      ['not a map', encode([1, 2])]
    ]
    for (const [what, bytes] of cases) {
      expect(readCanonicalFrame(bytes), what).to.equal(null)
    }
    // and the general path still gives these their usual codes
    expect(codeOf(() => decodeFrame(cases[0][1]))).to.equal('MALFORMED_MESSAGE')
    expect(codeOf(() => decodeFrame(cases[3][1]))).to.equal('MALFORMED_MESSAGE')
  })
})
