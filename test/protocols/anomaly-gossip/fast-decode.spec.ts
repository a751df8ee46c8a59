import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { decodeEnvelope, encodeEnvelope, encodePayload, ENVELOPE_LIMITS, PAYLOAD_LIMITS } from '../../../protocols/anomaly-gossip/codec.ts'
import { WIRE_VERSION } from '../../../protocols/anomaly-gossip/constants.ts'
import { readEnvelope, readPayload } from '../../../protocols/anomaly-gossip/fast-decode.ts'
import { RecentMemo } from '../../../protocols/anomaly-gossip/recent-memo.ts'
import { decodeBounded } from '../../../src/util/bounded-cbor.ts'
import { sampleEnvelope } from './sample-envelope.ts'
import type { AnomalyEnvelope } from '../../../protocols/anomaly-gossip/codec.ts'

/** A negative metadata value and chain certificates of realistic size take the reader's other branches. */
function envelope (): AnomalyEnvelope {
  return sampleEnvelope({
    payload: encodePayload({ type: 'sha256', value: 'ab'.repeat(32), meta: { rule: 'r-1', score: -9, high: true } }),
    origin_cert: [new Uint8Array(300).fill(0x30), new Uint8Array(280).fill(0x31)]
  })
}

/** The generic decoder's value, or undefined where it refuses. */
function generic (bytes: Uint8Array, limits: typeof ENVELOPE_LIMITS): unknown {
  try { return decodeBounded(bytes, limits) } catch { return undefined }
}

/** Every single-byte change of `bytes` to a few values: shapes, lengths, types and keys all move. */
function * mutations (bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i++) {
    for (const v of [0x00, 0x01, 0x18, 0x40, 0x60, 0x61, 0x7f, 0x80, 0xa0, 0xa9, 0xf5, 0xff, bytes[i] ^ 0x01, bytes[i] ^ 0x20]) {
      if (v === bytes[i]) { continue }
      const m = Uint8Array.from(bytes)
      m[i] = v
      yield m
    }
  }
  yield bytes.subarray(0, bytes.length - 1)
  yield Uint8Array.of(...bytes, 0x00)
}

describe('anomaly gossip: fast decoding', () => {
  it('reads a current envelope and its payload to exactly what the generic decoder returns', () => {
    const e = envelope()
    const bytes = encodeEnvelope(e)
    expect(readEnvelope(bytes)).to.deep.equal(generic(bytes, ENVELOPE_LIMITS)).and.to.deep.equal(e)
    const fast = readPayload(e.payload)
    const slow = generic(e.payload, PAYLOAD_LIMITS) as Record<string, unknown>
    expect(fast).to.deep.equal(slow)
    // Key order matters for payloads (the canonical-order check reads it): the wire order, as the generic decoder gives it.
    expect(Object.keys(fast ?? {})).to.deep.equal(Object.keys(slow))
    expect(Object.keys((fast?.meta ?? {}) as object)).to.deep.equal(Object.keys(slow.meta as object))
  })

  it('accepts nothing the generic decoder would decode otherwise or refuse (every one-byte change, truncation, a trailing byte)', () => {
    const e = envelope()
    let accepted = 0
    let refused = 0
    for (const m of mutations(encodeEnvelope(e))) {
      const fast = readEnvelope(m)
      if (fast === undefined) { refused++; continue }
      accepted++
      expect(fast).to.deep.equal(generic(m, ENVELOPE_LIMITS))
    }
    for (const m of mutations(e.payload)) {
      const fast = readPayload(m)
      if (fast === undefined) { refused++; continue }
      accepted++
      const slow = generic(m, PAYLOAD_LIMITS) as Record<string, unknown>
      expect(fast).to.deep.equal(slow)
      expect(Object.keys(fast)).to.deep.equal(Object.keys(slow))
    }
    // Both kinds occur: changed bytes inside byte strings keep the shape, changed heads break it.
    expect(accepted).to.be.above(100)
    expect(refused).to.be.above(100)
  })

  it('leaves other versions, unknown or repeated keys and other shapes to the generic decoder and its codes', () => {
    const e = envelope()
    expect(readEnvelope(encode({ ...e, v: WIRE_VERSION + 1 }))).to.equal(undefined)
    expect(() => decodeEnvelope(encode({ ...e, v: WIRE_VERSION + 1 }))).to.throw().with.property('code', 'UNSUPPORTED_VERSION')
    const { sig, ...eight } = e
    expect(readEnvelope(encode(eight))).to.equal(undefined)
    expect(readEnvelope(encode({ ...eight, extra: sig }))).to.equal(undefined)
    expect(() => decodeEnvelope(encode({ ...eight, extra: sig }))).to.throw().with.property('code', 'MALFORMED')
    expect(readPayload(encode({ type: 'sha256', value: 'ab', meta: { n: 1.5 } }))).to.equal(undefined)
    expect(readPayload(encode({ type: 'sha256', value: 'ab', meta: { n: null } }))).to.equal(undefined)
    expect(readPayload(encode({ type: 'sha256', value: 'ab', other: 'x' }))).to.equal(undefined)
    // {"type": ..., "type": ...}: a repeated key.
    expect(readPayload(Uint8Array.of(0xa2, 0x64, 0x74, 0x79, 0x70, 0x65, 0x61, 0x61, 0x64, 0x74, 0x79, 0x70, 0x65, 0x61, 0x62))).to.equal(undefined)
  })

  it('reads byte fields in place only when asked, and then as views of the message bytes', () => {
    const bytes = encodeEnvelope(envelope())
    const copied = readEnvelope(bytes)
    const inPlace = readEnvelope(bytes, true)
    expect(copied?.sig.buffer).to.not.equal(bytes.buffer)
    // If cborg stops slicing byte strings from its input, this fails: the path is then only slower.
    expect(inPlace?.sig.buffer).to.equal(bytes.buffer)
    expect(inPlace?.origin_cert[0].buffer).to.equal(bytes.buffer)
    expect(inPlace?.sig).to.be.an.instanceOf(Uint8Array).and.not.an.instanceOf(Buffer)
    expect(inPlace).to.deep.equal(copied)
  })

  it('keeps a bounded memo of recent results by identity', () => {
    const memo = new RecentMemo<object, number>(2)
    const [a, b, c] = [{}, {}, {}]
    memo.set(a, 1)
    memo.set(b, 2)
    memo.set(c, 3)
    expect(memo.get(a)).to.equal(undefined)
    expect(memo.get(b)).to.equal(2)
    expect(memo.get(c)).to.equal(3)
    memo.delete(b)
    expect(memo.get(b)).to.equal(undefined)
  })
})
