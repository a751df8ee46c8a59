import { createHash } from 'node:crypto'
import { expect } from 'aegir/chai'
import { evidenceToJson, parseEvidence, quoteQualifyingData } from '../../src/attestation/evidence.ts'
import { checkPcrPolicy, DEFAULT_ATTESTATION_POLICY, parseAttestationPolicy } from '../../src/attestation/policy.ts'
import { ReplayCache } from '../../src/attestation/replay-cache.ts'
import type { TpmQuoteEvidence } from '../../src/attestation/evidence.ts'

const H = (c: string): string => c.repeat(64)

function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err: any) {
    expect(err.name).to.equal('AttestationError')
    return err.code
  }
  return 'OK'
}

describe('attestation policy', () => {
  it('fills defaults: TPM required, sha256 PCRs 0-7, 300 s, EK pinned, restricted AK, demote, hourly', () => {
    expect(parseAttestationPolicy({})).to.deep.equal(DEFAULT_ATTESTATION_POLICY)
  })

  it('normalizes hex to lowercase and PCR indexes to canonical strings', () => {
    const p = parseAttestationPolicy({ pcr_values: { 7: [H('A')] }, golden_sets: [{ 0: H('B') }], required_pcrs: [7, 0, 7] })
    expect(p.pcr_values).to.deep.equal({ 7: [H('a')] })
    expect(p.golden_sets).to.deep.equal([{ 0: H('b') }])
    expect(p.required_pcrs).to.deep.equal([0, 7])
  })

  const bad: Array<[string, unknown]> = [
    ['a non-object', 'strict'],
    ['the sha1 bank', { pcr_bank: 'sha1' }],
    ['a PCR index of 64', { required_pcrs: [64] }],
    ['a PCR index written as 07', { pcr_values: { '07': [H('a')] } }],
    ['a short PCR value', { pcr_values: { 7: ['abcd'] } }],
    ['an empty allowed-values list', { pcr_values: { 7: [] } }],
    ['an empty golden set', { golden_sets: [{}] }],
    ['a zero maximum age', { max_evidence_age_seconds: 0 }],
    ['a string for a boolean', { accept_none: 'yes' }],
    ['an unknown failure action', { on_failure: 'ignore' }],
    ['a 1 s recheck interval', { recheck_interval_seconds: 1 }]
  ]
  bad.forEach(([what, doc]) => {
    it(`refuses ${what} with BAD_POLICY`, () => {
      expect(codeOf(() => parseAttestationPolicy(doc))).to.equal('BAD_POLICY')
    })
  })

  it('checks PCR values against allowed lists and golden sets', () => {
    const pcrs = { alg: 'sha256' as const, values: { 0: H('0'), 7: H('7') } }
    const base = { ...DEFAULT_ATTESTATION_POLICY, required_pcrs: [0, 7] }
    expect(codeOf(() => checkPcrPolicy(base, pcrs))).to.equal('OK')
    expect(codeOf(() => checkPcrPolicy({ ...base, required_pcrs: [0, 1] }, pcrs))).to.equal('PCR_MISSING')
    expect(codeOf(() => checkPcrPolicy({ ...base, pcr_values: { 7: [H('7'), H('8')] } }, pcrs))).to.equal('OK')
    expect(codeOf(() => checkPcrPolicy({ ...base, pcr_values: { 7: [H('8')] } }, pcrs))).to.equal('PCR_NOT_ALLOWED')
    expect(codeOf(() => checkPcrPolicy({ ...base, golden_sets: [{ 0: H('1') }, { 0: H('0'), 7: H('7') }] }, pcrs))).to.equal('OK')
    expect(codeOf(() => checkPcrPolicy({ ...base, golden_sets: [{ 0: H('0'), 7: H('8') }] }, pcrs))).to.equal('PCR_NOT_ALLOWED')
    expect(codeOf(() => checkPcrPolicy({ ...base, pcr_bank: 'sha384' }, pcrs))).to.equal('PCR_MISSING')
  })
})

describe('attestation evidence', () => {
  const ev: TpmQuoteEvidence = {
    type: 'tpm_quote',
    ak_public: new Uint8Array([1, 2, 3]),
    ek_public: new Uint8Array([4]),
    quote: new Uint8Array([5, 6]),
    signature: new Uint8Array([7]),
    pcrs: { alg: 'sha256', values: { 0: H('a') } },
    nonce: new Uint8Array(32).fill(1)
  }

  it('round-trips through JSON (base64) and accepts bytes as CBOR gives them', () => {
    const json = JSON.parse(JSON.stringify(evidenceToJson(ev)))
    expect(parseEvidence(json)).to.deep.equal(ev)
    expect(parseEvidence(ev)).to.deep.equal(ev)
    expect(parseEvidence({ type: 'none', extra: 1 })).to.deep.equal({ type: 'none' })
  })

  it('binds the nonce and the identity key: extraData = SHA-256(nonce || SPKI)', () => {
    const nonce = new Uint8Array(32).fill(1)
    const spki = new Uint8Array([0x30, 0x03, 2, 1, 0])
    const want = createHash('sha256').update(Buffer.concat([nonce, spki])).digest()
    expect(Buffer.from(quoteQualifyingData(nonce, spki)).equals(want)).to.equal(true)
  })

  const bad: Array<[string, unknown]> = [
    ['an unknown type', { ...ev, type: 'sgx' }],
    ['a short nonce', { ...ev, nonce: new Uint8Array(8) }],
    ['an empty quote', { ...ev, quote: new Uint8Array(0) }],
    ['a quote over 1 KiB', { ...ev, quote: new Uint8Array(1025) }],
    ['a quote that is not base64', { ...evidenceToJson(ev), quote: 'no*base64' }],
    ['a PCR value of the wrong length', { ...ev, pcrs: { alg: 'sha256', values: { 0: 'ab' } } }],
    ['a PCR index of 64', { ...ev, pcrs: { alg: 'sha256', values: { 64: H('a') } } }],
    ['no PCR values', { ...ev, pcrs: { alg: 'sha256', values: {} } }],
    ['an array', [ev]]
  ]
  bad.forEach(([what, doc]) => {
    it(`refuses ${what} with MALFORMED_EVIDENCE`, () => {
      expect(codeOf(() => parseEvidence(doc))).to.equal('MALFORMED_EVIDENCE')
    })
  })

  it('refuses an unknown PCR bank with UNSUPPORTED_ALGORITHM', () => {
    expect(codeOf(() => parseEvidence({ ...ev, pcrs: { alg: 'md5', values: { 0: 'aa' } } }))).to.equal('UNSUPPORTED_ALGORITHM')
  })
})

describe('replay cache', () => {
  it('remembers a digest until its time runs out, with the clock passed in', () => {
    const c = new ReplayCache()
    c.add('q1', 1000, 500)
    expect(c.has('q1', 1499)).to.equal(true)
    expect(c.has('q1', 1500)).to.equal(false)
    c.add('q2', 2000, 500)
    expect(c.size).to.equal(1)
  })

  it('stays within its bound, dropping the oldest first', () => {
    const c = new ReplayCache({ maxEntries: 3 })
    for (let i = 0; i < 10; i++) { c.add(`q${i}`, 0, 1000) }
    expect(c.size).to.equal(3)
    expect(c.has('q9', 1)).to.equal(true)
    expect(c.has('q6', 1)).to.equal(false)
  })
})
