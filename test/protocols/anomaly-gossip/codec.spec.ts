import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { decodeEnvelope, decodePayload, encodeEnvelope, encodePayload, envelopeDigest, isValidMessageId } from '../../../protocols/anomaly-gossip/codec.ts'
import { MAX_ENVELOPE_BYTES, MAX_META_ENTRIES, MAX_VALUE_BYTES } from '../../../protocols/anomaly-gossip/constants.ts'
import { decodeBounded } from '../../../src/util/bounded-cbor.ts'
import { sampleEnvelope } from './sample-envelope.ts'

const envelope = sampleEnvelope

function codeOf (fn: () => unknown): string | undefined {
  try { fn() } catch (err: any) { return `${err.name as string}/${err.code as string}` }
  return undefined
}

describe('anomaly gossip: codec', () => {
  it('round-trips an envelope and its payload', () => {
    const e = envelope()
    const back = decodeEnvelope(encodeEnvelope(e))
    expect(back).to.deep.equal(e)
    expect(decodePayload(back.payload)).to.deep.equal({ type: 'sha256', value: 'ab'.repeat(32), meta: { rule: 'r-1', score: 9, high: true } })
  })

  it('refuses to encode what it would not accept', () => {
    expect(codeOf(() => encodeEnvelope(envelope({ message_id: 'node-b:1' })))).to.equal('EnvelopeError/BAD_MESSAGE_ID')
    expect(codeOf(() => encodeEnvelope(envelope({ origin_cert: Array(5).fill(Uint8Array.of(1)) })))).to.equal('EnvelopeError/MALFORMED')
    expect(codeOf(() => encodeEnvelope(envelope({ origin_cert: [new Uint8Array(4000), new Uint8Array(4000), new Uint8Array(4000), new Uint8Array(4000)], payload: new Uint8Array(4000) })))).to.equal('EnvelopeError/TOO_LARGE')
    expect(codeOf(() => encodePayload({ type: 'sha256', value: 'x'.repeat(MAX_VALUE_BYTES + 1) }))).to.equal('EnvelopeError/BAD_PAYLOAD')
    expect(codeOf(() => encodePayload({ type: 'sha256', value: 'x', meta: { score: 0.5 } }))).to.equal('EnvelopeError/BAD_PAYLOAD')
    const many = Object.fromEntries(Array.from({ length: MAX_META_ENTRIES + 1 }, (_, i) => [`k${i}`, i]))
    expect(codeOf(() => encodePayload({ type: 'sha256', value: 'x', meta: many }))).to.equal('EnvelopeError/BAD_PAYLOAD')
  })

  it('checks the size before decoding, and refuses deep nesting after a few bytes', () => {
    expect(codeOf(() => decodeEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1)))).to.equal('EnvelopeError/TOO_LARGE')
    const deep = new Uint8Array(8192).fill(0x81) // [[[[...]]]]: a stack overflow for a recursive decoder
    deep[deep.length - 1] = 0x01
    expect(codeOf(() => decodeEnvelope(deep))).to.equal('EnvelopeError/MALFORMED')
    expect(() => decodeBounded(deep, { maxDepth: 2, maxTokens: 100 })).to.throw('nested too deep')
    expect(() => decodeBounded(encode(Array(200).fill(1)), { maxDepth: 2, maxTokens: 100 })).to.throw('too many items')
    expect(() => decodeBounded(Uint8Array.of(0xc1, 0x01), { maxDepth: 2, maxTokens: 100 })).to.throw('tags are not used')
  })

  it('refuses non-strict CBOR: duplicate keys, non-minimal lengths, indefinite lengths', () => {
    const dup = Uint8Array.of(0xa2, 0x61, 0x76, 0x01, 0x61, 0x76, 0x01) // {v: 1, v: 1}
    expect(codeOf(() => decodeEnvelope(dup))).to.equal('EnvelopeError/MALFORMED')
    const longLen = Uint8Array.of(0xb8, 0x01, 0x61, 0x76, 0x01) // map with a 1-byte length of 1
    expect(codeOf(() => decodeEnvelope(longLen))).to.equal('EnvelopeError/MALFORMED')
    const indefinite = Uint8Array.of(0xbf, 0x61, 0x76, 0x01, 0xff)
    expect(codeOf(() => decodeEnvelope(indefinite))).to.equal('EnvelopeError/MALFORMED')
  })

  it('bounds message ids to the origin namespace and alphabet', () => {
    expect(isValidMessageId('node-a:123', 'node-a')).to.equal(true)
    expect(isValidMessageId('node-a:0b8f7a52-4d0e', 'node-a')).to.equal(true)
    expect(isValidMessageId('node-ab:1', 'node-a')).to.equal(false)
    expect(isValidMessageId('node-a:1!2', 'node-a')).to.equal(false)
    expect(isValidMessageId('node-a:', 'node-a')).to.equal(false)
  })

  it('digests the content, not the chain or the encoding', () => {
    const e = envelope()
    expect(envelopeDigest({ ...e, origin_cert: [Uint8Array.of(9)] })).to.equal(envelopeDigest(e))
    expect(envelopeDigest({ ...e, expiry: e.expiry + 1 })).to.not.equal(envelopeDigest(e))
    expect(envelopeDigest({ ...e, payload: encodePayload({ type: 'sha256', value: 'cd' }) })).to.not.equal(envelopeDigest(e))
  })
})
