import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { AttestationError } from '../../src/attestation/errors.ts'
import { DEFAULT_ATTESTATION_POLICY, parseAttestationPolicy } from '../../src/attestation/policy.ts'
import { ReplayCache } from '../../src/attestation/replay-cache.ts'
import { swtpmMissing } from '../../src/attestation/swtpm.ts'
import { parseTpmsAttest } from '../../src/attestation/tpms-attest.ts'
import { verifyQuote } from '../../src/attestation/verify-quote.ts'
import { checkquoteAccepts, flipBit, freshIdentity, startTestTpm, tpmTool } from './fixtures.ts'
import type { TestTpm } from './fixtures.ts'
import type { Evidence, TpmQuoteEvidence } from '../../src/attestation/evidence.ts'
import type { AttestationPolicy } from '../../src/attestation/policy.ts'
import type { ExpectedEvidence } from '../../src/attestation/verify-quote.ts'

const T0 = new Date('2026-03-01T12:00:00Z')
const PCRS = [0, 1, 2, 3, 4, 5, 6, 7]

/** The code verifyQuote throws, or 'ACCEPTED'. */
function outcome (ev: Evidence, expected: ExpectedEvidence, policy: AttestationPolicy = DEFAULT_ATTESTATION_POLICY, replay = new ReplayCache(), now = T0): string {
  try {
    verifyQuote(now, ev, expected, policy, replay)
    return 'ACCEPTED'
  } catch (err) {
    if (!(err instanceof AttestationError)) { throw err }
    expect(err.name).to.equal('AttestationError')
    return err.code
  }
}

/** Offset of TPMS_ATTEST.clockInfo: after magic, type and the two TPM2Bs. */
function clockOffset (quote: Uint8Array): number {
  const a = parseTpmsAttest(quote)
  return 4 + 2 + 2 + a.qualifiedSigner.length + 2 + a.extraData.length
}

describe('TPM quote verification against a software TPM', function () {
  let A: TestTpm
  let good: TpmQuoteEvidence
  let goodDir: string
  let id: ReturnType<typeof freshIdentity>
  let expected: ExpectedEvidence

  before(async function () {
    // Skip rule: these suites need a real software TPM. Without the Debian packages swtpm and
    // tpm2-tools there is none; CI installs them (scripts/install-system-deps.sh).
    if (await swtpmMissing() != null) { this.skip() }
    A = await startTestTpm()
    id = freshIdentity()
    goodDir = await mkdtemp(join(A.dir, 'good-'))
    good = await A.tpm.quote({ nonce: id.nonce, identitySpki: id.identitySpki, pcrs: PCRS, outDir: goodDir })
    expected = { nonce: id.nonce, identitySpki: id.identitySpki, nonceIssuedAt: T0, pinnedEkSpki: A.ek.spki }
  })

  after(async () => { await A?.stop() })

  describe('a good quote', () => {
    it('verifies in TypeScript and tpm2_checkquote accepts it', async () => {
      const v = verifyQuote(T0, good, expected, DEFAULT_ATTESTATION_POLICY, new ReplayCache())
      expect(v.attested).to.equal(true)
      expect(Buffer.from(v.akSpki ?? []).equals(Buffer.from(A.ak.spki))).to.equal(true)
      expect(Buffer.from(v.ekSpki ?? []).equals(Buffer.from(A.ek.spki))).to.equal(true)
      expect(Object.keys(v.pcrs?.values ?? {})).to.deep.equal(PCRS.map(String))
      expect(v.quoteDigest).to.equal(createHash('sha256').update(good.quote).digest('hex'))
      expect(await checkquoteAccepts(A.dir, good, join(goodDir, 'pcrs.out'), id.nonce, id.identitySpki)).to.equal(true)
    })

    it('verifies at first enrollment, before any EK is pinned, and reports the EK to pin', () => {
      const { pinnedEkSpki, ...first } = expected
      const v = verifyQuote(T0, good, first, DEFAULT_ATTESTATION_POLICY)
      expect(Buffer.from(v.ekSpki ?? []).equals(Buffer.from(pinnedEkSpki ?? []))).to.equal(true)
    })

    it('still verifies at the edge of the maximum age, and not one second later (EVIDENCE_TOO_OLD)', () => {
      const edge = new Date(T0.getTime() + DEFAULT_ATTESTATION_POLICY.max_evidence_age_seconds * 1000)
      expect(outcome(good, expected, DEFAULT_ATTESTATION_POLICY, new ReplayCache(), edge)).to.equal('ACCEPTED')
      expect(outcome(good, expected, DEFAULT_ATTESTATION_POLICY, new ReplayCache(), new Date(edge.getTime() + 1000))).to.equal('EVIDENCE_TOO_OLD')
    })
  })

  describe('negative cases (each with its exact code; the outside check agrees where it can judge)', () => {
    it('wrong nonce: NONCE_MISMATCH, and tpm2_checkquote rejects it too', async () => {
      const other = { ...expected, nonce: new Uint8Array(randomBytes(32)) }
      expect(outcome(good, other)).to.equal('NONCE_MISMATCH')
      // the prover lies and echoes our nonce: the signed extraData still gives it away
      expect(outcome({ ...good, nonce: other.nonce }, other)).to.equal('NONCE_MISMATCH')
      expect(await checkquoteAccepts(A.dir, good, join(goodDir, 'pcrs.out'), other.nonce, id.identitySpki)).to.equal(false)
    })

    it('quote bound to another identity key: NONCE_MISMATCH (extraData covers nonce and key), and tpm2_checkquote rejects it too', async () => {
      const other = freshIdentity().identitySpki
      expect(outcome(good, { ...expected, identitySpki: other })).to.equal('NONCE_MISMATCH')
      expect(await checkquoteAccepts(A.dir, good, join(goodDir, 'pcrs.out'), id.nonce, other)).to.equal(false)
    })

    it('replayed quote: REPLAYED the second time through the same cache', () => {
      const cache = new ReplayCache()
      expect(outcome(good, expected, DEFAULT_ATTESTATION_POLICY, cache)).to.equal('ACCEPTED')
      expect(outcome(good, expected, DEFAULT_ATTESTATION_POLICY, cache, new Date(T0.getTime() + 1000))).to.equal('REPLAYED')
    })

    it('flipped bit in the quote: BAD_SIGNATURE, and tpm2_checkquote rejects it too', async () => {
      const tampered = { ...good, quote: flipBit(good.quote, clockOffset(good.quote) + 3) }
      expect(outcome(tampered, expected)).to.equal('BAD_SIGNATURE')
      expect(await checkquoteAccepts(A.dir, tampered, join(goodDir, 'pcrs.out'), id.nonce, id.identitySpki)).to.equal(false)
    })

    it('flipped bit in the magic: BAD_MAGIC, and tpm2_checkquote rejects it too', async () => {
      const tampered = { ...good, quote: flipBit(good.quote, 0, 7) }
      expect(outcome(tampered, expected)).to.equal('BAD_MAGIC')
      expect(await checkquoteAccepts(A.dir, tampered, join(goodDir, 'pcrs.out'), id.nonce, id.identitySpki)).to.equal(false)
    })

    it('flipped bit in the signature: BAD_SIGNATURE, and tpm2_checkquote rejects it too', async () => {
      const tampered = { ...good, signature: flipBit(good.signature, good.signature.length - 1) }
      expect(outcome(tampered, expected)).to.equal('BAD_SIGNATURE')
      expect(await checkquoteAccepts(A.dir, tampered, join(goodDir, 'pcrs.out'), id.nonce, id.identitySpki)).to.equal(false)
    })

    it('type other than 0x8018: BAD_TYPE for a flipped type and for a genuine AK-signed TPM2_GetTime attestation', async () => {
      expect(outcome({ ...good, quote: flipBit(good.quote, 5, 0) }, expected)).to.equal('BAD_TYPE')
      // a TPMS_ATTEST of type TPM_ST_ATTEST_TIME (0x8019), really signed by the same AK
      const d = await mkdtemp(join(A.dir, 'gettime-'))
      await tpmTool(A.swtpm.tcti, 'tpm2_gettime', ['-c', join(A.dir, 'keys', 'ak.ctx'), '-g', 'sha256', '-q', createHash('sha256').update(id.nonce).update(id.identitySpki).digest('hex'), '--attestation', join(d, 'attest'), '-o', join(d, 'sig')])
      const attest = new Uint8Array(await readFile(join(d, 'attest')))
      expect((attest[4] << 8) | attest[5]).to.equal(0x8019)
      expect(outcome({ ...good, quote: attest, signature: new Uint8Array(await readFile(join(d, 'sig'))) }, expected)).to.equal('BAD_TYPE')
    })

    it('PCR mismatch after tpm2_pcrextend: stale values give PCR_DIGEST_MISMATCH (tpm2_checkquote agrees); fresh ones fail the golden set (PCR_NOT_ALLOWED)', async () => {
      const golden = parseAttestationPolicy({ golden_sets: [good.pcrs.values] })
      const B = await startTestTpm()
      try {
        const before = freshIdentity()
        const beforeDir = await mkdtemp(join(B.dir, 'before-'))
        await B.tpm.quote({ ...before, pcrs: PCRS, outDir: beforeDir })
        await B.tpm.extendPcr(7, createHash('sha256').update('rogue bootloader').digest('hex'))
        const after = freshIdentity()
        const afterDir = await mkdtemp(join(B.dir, 'after-'))
        const ev = await B.tpm.quote({ ...after, pcrs: PCRS, outDir: afterDir })
        const exp = { ...after, nonceIssuedAt: T0, pinnedEkSpki: B.ek.spki }
        // 1. the prover sends the PCR values from before the extend with the fresh quote
        const staleValues = { alg: ev.pcrs.alg, values: { ...ev.pcrs.values, 7: good.pcrs.values['7'] } }
        expect(outcome({ ...ev, pcrs: staleValues }, exp)).to.equal('PCR_DIGEST_MISMATCH')
        expect(await checkquoteAccepts(B.dir, ev, join(beforeDir, 'pcrs.out'), after.nonce, after.identitySpki)).to.equal(false)
        expect(await checkquoteAccepts(B.dir, ev, join(afterDir, 'pcrs.out'), after.nonce, after.identitySpki)).to.equal(true)
        // 2. honest values: the quote is consistent, but PCR 7 is no longer the golden one
        expect(outcome(ev, exp)).to.equal('ACCEPTED')
        expect(outcome(ev, exp, golden)).to.equal('PCR_NOT_ALLOWED')
        expect(outcome(good, expected, golden)).to.equal('ACCEPTED')
      } finally {
        await B.stop()
      }
    })

    it('AK not bound to the enrolled EK: the same node from a different TPM gets AK_NOT_BOUND_TO_EK', async () => {
      const B = await startTestTpm()
      try {
        const ev = await B.tpm.quote({ nonce: id.nonce, identitySpki: id.identitySpki, pcrs: PCRS })
        // 1. TPM B is honest about its EK: it is not the EK pinned at enrollment (TPM A's)
        expect(outcome(ev, expected)).to.equal('AK_NOT_BOUND_TO_EK')
        // 2. TPM B claims A's EK: the TPM-signed qualifiedSigner shows its AK is not A's EK's child
        expect(outcome({ ...ev, ek_public: A.ek.public }, expected)).to.equal('AK_NOT_BOUND_TO_EK')
        // 3. A's quote with A's AK swapped for B's: B's AK did not sign it
        expect(outcome({ ...good, ak_public: B.ak.public }, { ...expected, pinnedEkSpki: undefined }, { ...DEFAULT_ATTESTATION_POLICY, require_known_ek: false })).to.equal('BAD_SIGNATURE')
        // 4. the AK pinned at enrollment is A's
        expect(outcome(ev, { ...expected, pinnedAkSpki: A.ak.spki })).to.equal('AK_MISMATCH')
      } finally {
        await B.stop()
      }
    })

    it('PCRs sent are not the quoted set: PCR_SELECTION_MISMATCH; a required PCR not quoted: PCR_MISSING', () => {
      const values = { ...good.pcrs.values }
      delete values['7']
      expect(outcome({ ...good, pcrs: { alg: 'sha256', values } }, expected)).to.equal('PCR_SELECTION_MISMATCH')
      expect(outcome(good, expected, parseAttestationPolicy({ required_pcrs: [0, 10] }))).to.equal('PCR_MISSING')
    })

    it('AK sent as a bare SPKI: AK_NOT_RESTRICTED, or AK_NOT_BOUND_TO_EK when only the EK binding is required', () => {
      const spkiEv = { ...good, ak_public: A.ak.spki }
      expect(outcome(spkiEv, expected)).to.equal('AK_NOT_RESTRICTED')
      const noRestrict = { ...DEFAULT_ATTESTATION_POLICY, require_restricted_ak: false }
      expect(outcome(spkiEv, expected, noRestrict)).to.equal('AK_NOT_BOUND_TO_EK')
      expect(outcome(spkiEv, { ...expected, pinnedEkSpki: undefined }, { ...noRestrict, require_known_ek: false })).to.equal('ACCEPTED')
    })

    it('no EK when the policy needs one: EK_MISSING', () => {
      const { ek_public: _ek, ...noEk } = good
      expect(outcome(noEk, expected)).to.equal('EK_MISSING')
    })

    it('none evidence: NONE_NOT_ALLOWED by default, accepted as not attested when the policy allows', () => {
      expect(outcome({ type: 'none' }, expected)).to.equal('NONE_NOT_ALLOWED')
      const v = verifyQuote(T0, { type: 'none' }, expected, { ...DEFAULT_ATTESTATION_POLICY, accept_none: true })
      expect(v).to.deep.equal({ type: 'none', attested: false })
    })

    it('truncated quote or trailing bytes: MALFORMED_EVIDENCE', () => {
      expect(outcome({ ...good, quote: good.quote.subarray(0, good.quote.length - 1) }, expected)).to.equal('MALFORMED_EVIDENCE')
      expect(outcome({ ...good, quote: new Uint8Array([...good.quote, 0]) }, expected)).to.equal('MALFORMED_EVIDENCE')
      expect(outcome({ ...good, signature: good.signature.subarray(0, 10) }, expected)).to.equal('MALFORMED_EVIDENCE')
    })
  })
})
