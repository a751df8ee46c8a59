import { lpStream, streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { decodeFrame, encodeFrame } from '../../../protocols/attest/codec.ts'
import { MAX_FRAME_BYTES } from '../../../protocols/attest/constants.ts'
import { answerChallenge, sendChallenge } from '../../../protocols/attest/exchange.ts'
import { noneProver } from '../../../protocols/attest/prover.ts'

function throwsCode (fn: () => unknown): any {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

const NONCE = new Uint8Array(32).fill(9)

describe('attest protocol: frames (cborg, bounded)', () => {
  it('round-trips the four frames', () => {
    const challenge = { t: 1 as const, v: 1, nonce: NONCE, bank: 'sha256' as const, pcrs: [0, 7, 16] }
    expect(decodeFrame(encodeFrame(challenge))).to.deep.equal(challenge)
    const ev = { type: 'tpm_quote', ak_public: new Uint8Array([1, 2]), quote: new Uint8Array(3), signature: new Uint8Array(4), nonce: NONCE, pcrs: { alg: 'sha256', values: { 0: '00'.repeat(32) } } }
    expect(decodeFrame(encodeFrame({ t: 2, ev }))).to.deep.equal({ t: 2, ev })
    expect(decodeFrame(encodeFrame({ t: 3, code: 'RATE_LIMITED' }))).to.deep.equal({ t: 3, code: 'RATE_LIMITED' })
    expect(decodeFrame(encodeFrame({ t: 4, ok: false, code: 'PCR_NOT_ALLOWED' }))).to.deep.equal({ t: 4, ok: false, code: 'PCR_NOT_ALLOWED' })
    expect(decodeFrame(encodeFrame({ t: 4, ok: true }))).to.deep.equal({ t: 4, ok: true })
  })

  it('refuses a frame above the size cap before decoding it (FRAME_TOO_LARGE)', () => {
    expect(throwsCode(() => decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)))).to.include({ name: 'AttestProtocolError', code: 'FRAME_TOO_LARGE' })
    expect(throwsCode(() => encodeFrame({ t: 2, ev: { pad: new Uint8Array(MAX_FRAME_BYTES) } }))).to.include({ code: 'FRAME_TOO_LARGE' })
  })

  it('refuses deep nesting, too many items, tags and unknown fields (MALFORMED_MESSAGE)', () => {
    const deep = encode({ t: 2, ev: { a: { b: { c: { d: 1 } } } } })
    expect(throwsCode(() => decodeFrame(deep))).to.include({ code: 'MALFORMED_MESSAGE' })
    const many = encode({ t: 2, ev: { list: Array.from({ length: 200 }, (_, i) => i) } })
    expect(throwsCode(() => decodeFrame(many))).to.include({ code: 'MALFORMED_MESSAGE' })
    expect(throwsCode(() => decodeFrame(encode({ t: 3, code: 'CLOSED', extra: 1 })))).to.include({ code: 'MALFORMED_MESSAGE' })
    expect(throwsCode(() => decodeFrame(encode({ t: 9 })))).to.include({ code: 'MALFORMED_MESSAGE' })
    expect(throwsCode(() => decodeFrame(Uint8Array.from([0xc1, 0x00])))).to.include({ code: 'MALFORMED_MESSAGE' })
  })

  it('checks the challenge: version, nonce size, bank and PCR selection', () => {
    const c = (o: Record<string, unknown>): Uint8Array => encode({ t: 1, v: 1, nonce: NONCE, bank: 'sha256', pcrs: [0], ...o })
    expect(throwsCode(() => decodeFrame(c({ v: 2 })))).to.include({ code: 'UNSUPPORTED_VERSION' })
    expect(throwsCode(() => decodeFrame(c({ nonce: new Uint8Array(8) })))).to.include({ code: 'MALFORMED_MESSAGE' })
    expect(throwsCode(() => decodeFrame(c({ bank: 'md5' })))).to.include({ code: 'MALFORMED_MESSAGE' })
    expect(throwsCode(() => decodeFrame(c({ pcrs: [] })))).to.include({ code: 'MALFORMED_MESSAGE' })
    expect(throwsCode(() => decodeFrame(c({ pcrs: [24] })))).to.include({ code: 'MALFORMED_MESSAGE' })
  })

  it('does not echo codes it does not know', () => {
    expect(decodeFrame(encode({ t: 3, code: 'x'.repeat(100) }))).to.deep.equal({ t: 3, code: 'UNKNOWN' })
    expect(decodeFrame(encode({ t: 4, ok: false, code: 'EVIL' }))).to.deep.equal({ t: 4, ok: false })
  })
})

describe('attest protocol: exchange over a stream pair', () => {
  it('a prover answers a challenge with evidence and hears the verdict', async () => {
    const [v, p] = await streamPair()
    const signal = AbortSignal.timeout(5_000)
    const proving = answerChallenge(p, { prover: noneProver, identitySpki: () => new Uint8Array(10), signal })
    const { answer, finish } = await sendChallenge(v, { nonce: NONCE, bank: 'sha256', pcrs: [0] }, signal)
    expect(answer).to.deep.equal({ evidence: { type: 'none' } })
    await finish({ ok: false, code: 'NONE_NOT_ALLOWED' })
    expect(await proving).to.deep.equal({ ok: false, code: 'NONE_NOT_ALLOWED' })
  })

  it('a prover whose TPM fails says PROVER_FAILED', async () => {
    const [v, p] = await streamPair()
    const signal = AbortSignal.timeout(5_000)
    const proving = answerChallenge(p, { prover: async () => { throw new Error('tpm gone') }, identitySpki: () => new Uint8Array(10), signal }).catch(e => e)
    const { answer } = await sendChallenge(v, { nonce: NONCE, bank: 'sha256', pcrs: [0] }, signal)
    expect(answer).to.deep.equal({ refused: 'PROVER_FAILED' })
    expect(await proving).to.include({ name: 'AttestProtocolError', code: 'PROVER_FAILED' })
  })

  it('never reads the body of an oversized frame (FRAME_TOO_LARGE) and times out a silent peer (TIMEOUT)', async () => {
    const [v, p] = await streamPair()
    const proving = answerChallenge(p, { prover: noneProver, identitySpki: () => new Uint8Array(10), signal: AbortSignal.timeout(5_000) }).catch(e => e)
    v.send(Uint8Array.from([0xff, 0xff, 0x3f])) // varint of about 1 MiB
    expect(await proving).to.include({ code: 'FRAME_TOO_LARGE' })
    const [v2, p2] = await streamPair()
    const silent = sendChallenge(v2, { nonce: NONCE, bank: 'sha256', pcrs: [0] }, AbortSignal.timeout(200)).catch(e => e)
    await lpStream(p2).read() // the challenge arrives; no answer follows
    expect(await silent).to.include({ name: 'AttestProtocolError', code: 'TIMEOUT' })
  })
})
