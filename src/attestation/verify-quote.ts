import { createHash, timingSafeEqual } from 'node:crypto'
import { AttestationError } from './errors.ts'
import { parseEvidence, quoteQualifyingData } from './evidence.ts'
import { checkPcrPolicy } from './policy.ts'
import { akQualifiedNameUnderEk, AK_REQUIRED_ATTRIBUTES, parseEvidenceKey } from './tpm-public.ts'
import { hashAlgId, TPM_HASHES } from './tpm-reader.ts'
import { parseTpmtSignature, verifyTpmSignature } from './tpm-signature.ts'
import { parseTpmsAttest } from './tpms-attest.ts'
import type { Evidence, PcrValues, TpmQuoteEvidence } from './evidence.ts'
import type { AttestationPolicy } from './policy.ts'
import type { ReplayCache } from './replay-cache.ts'
import type { EvidenceKey } from './tpm-public.ts'
import type { QuoteAttestation } from './tpms-attest.ts'

/** What the verifier knows before it reads the evidence. */
export interface ExpectedEvidence {
  /** The nonce this verifier issued for this exchange (single use). */
  nonce: Uint8Array
  /** SPKI DER of the identity key the node's certificate (or CSR) carries. */
  identitySpki: Uint8Array
  /** When the nonce was issued: the evidence age is measured from it. */
  nonceIssuedAt: Date
  /** The node's EK as pinned at enrollment (SPKI DER); absent at first enrollment. */
  pinnedEkSpki?: Uint8Array
  /** The node's AK as pinned at enrollment (SPKI DER); absent at first enrollment. */
  pinnedAkSpki?: Uint8Array
}

/** An accepted piece of evidence and what the verifier learnt from it. */
export interface AttestationVerdict {
  type: 'tpm_quote' | 'none'
  /** True only for a verified TPM quote; `none` accepted by policy is false. */
  attested: boolean
  /** AK and EK as SPKI DER, and their TPM Names when sent as TPM2B_PUBLIC: the CA pins these. */
  akSpki?: Uint8Array
  akName?: Uint8Array
  ekSpki?: Uint8Array
  ekName?: Uint8Array
  pcrs?: PcrValues
  /** TPM clock state, for monotonicity checks by a caller that keeps history. */
  clock?: { clock: bigint, resetCount: number, restartCount: number, safe: boolean }
  firmwareVersion?: bigint
  /** SHA-256 of the TPMS_ATTEST, hex: the replay cache key, and a log field. */
  quoteDigest?: string
}

function same (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Verifies attestation evidence against what this verifier expects and its policy. Pure but
 * for the replay cache it records accepted quotes in. Cheap checks first, the signature before
 * anything that trusts the quote's contents; returns a verdict or throws AttestationError.
 */
export function verifyQuote (now: Date, untrusted: Evidence, expected: ExpectedEvidence, policy: AttestationPolicy, replay?: ReplayCache): AttestationVerdict {
  // [REJECT] shape and bounds first, whoever decoded it (MALFORMED_EVIDENCE)
  const evidence = parseEvidence(untrusted)
  if (evidence.type === 'none') {
    // [REJECT] a platform without a TPM, unless the policy accepts that
    if (!policy.accept_none) { throw new AttestationError('NONE_NOT_ALLOWED', 'the policy requires TPM evidence') }
    return { type: 'none', attested: false }
  }
  return verifyTpmQuote(now, evidence, expected, policy, replay)
}

function verifyTpmQuote (now: Date, ev: TpmQuoteEvidence, expected: ExpectedEvidence, policy: AttestationPolicy, replay?: ReplayCache): AttestationVerdict {
  const nowMs = now.getTime()
  const maxAgeMs = policy.max_evidence_age_seconds * 1000
  // [REJECT] the nonce was issued too long ago: the answer is stale whatever it says
  if (nowMs - expected.nonceIssuedAt.getTime() > maxAgeMs) {
    throw new AttestationError('EVIDENCE_TOO_OLD', `the nonce was issued ${Math.round((nowMs - expected.nonceIssuedAt.getTime()) / 1000)} s ago, more than ${policy.max_evidence_age_seconds} s`)
  }
  const ak = parseEvidenceKey(ev.ak_public, 'ak_public')
  // [REJECT] an AK that could sign data a TPM did not make (not restricted), or unknown attributes
  if (policy.require_restricted_ak && (ak.attributes == null || (ak.attributes & AK_REQUIRED_ATTRIBUTES) !== AK_REQUIRED_ATTRIBUTES)) {
    throw new AttestationError('AK_NOT_RESTRICTED', ak.attributes == null ? 'the AK came as an SPKI: its attributes are unknown' : 'the AK is not a fixedTPM restricted signing key')
  }
  // [REJECT] not a quote: magic, type, then the bounded parse
  const attest = parseTpmsAttest(ev.quote)
  const quoteDigest = createHash('sha256').update(ev.quote).digest('hex')
  // [REJECT] this very quote was accepted before
  if (replay?.has(quoteDigest, nowMs) === true) {
    throw new AttestationError('REPLAYED', 'this quote was already accepted')
  }
  const sig = parseTpmtSignature(ev.signature)
  // [REJECT] the AK did not sign these bytes
  if (!verifyTpmSignature(ak.spki, sig, ev.quote)) {
    throw new AttestationError('BAD_SIGNATURE', 'the AK signature over the quote does not verify')
  }
  checkQualifyingData(attest, ev, expected)
  const ek = checkEkBinding(attest, ev, expected, policy, ak)
  const pcrs = checkPcrDigest(attest, ev.pcrs, sig.hash)
  checkPcrPolicy(policy, pcrs)
  replay?.add(quoteDigest, nowMs, maxAgeMs)
  return {
    type: 'tpm_quote',
    attested: true,
    akSpki: ak.spki,
    ...(ak.name != null ? { akName: ak.name } : {}),
    ...(ek?.spki != null ? { ekSpki: ek.spki } : {}),
    ...(ek?.name != null ? { ekName: ek.name } : {}),
    pcrs,
    clock: { clock: attest.clock, resetCount: attest.resetCount, restartCount: attest.restartCount, safe: attest.safe },
    firmwareVersion: attest.firmwareVersion,
    quoteDigest
  }
}

/**
 * [REJECT] extraData must be SHA-256(our nonce || the identity SPKI): fresh, and bound to the
 * key. A mismatch cannot tell a stale nonce from another key (both are inside the hash), so
 * both are NONCE_MISMATCH.
 */
function checkQualifyingData (attest: QuoteAttestation, ev: TpmQuoteEvidence, expected: ExpectedEvidence): void {
  if (!same(ev.nonce, expected.nonce)) {
    throw new AttestationError('NONCE_MISMATCH', 'the evidence answers another nonce')
  }
  if (!same(attest.extraData, quoteQualifyingData(expected.nonce, expected.identitySpki))) {
    throw new AttestationError('NONCE_MISMATCH', 'the quote is not qualified by SHA-256(this nonce || this identity SPKI)')
  }
}

/**
 * [REJECT] the AK must be the pinned one and a child of the known EK: the pinned EK (or, at
 * first enrollment, the one sent), proven by the TPM-signed qualifiedSigner being
 * H(H(TPM_RH_ENDORSEMENT || EK Name) || AK Name).
 */
function checkEkBinding (attest: QuoteAttestation, ev: TpmQuoteEvidence, expected: ExpectedEvidence, policy: AttestationPolicy, ak: EvidenceKey): EvidenceKey | undefined {
  if (expected.pinnedAkSpki != null && !same(ak.spki, expected.pinnedAkSpki)) {
    throw new AttestationError('AK_MISMATCH', 'the AK is not the one pinned for this node')
  }
  const ek = ev.ek_public != null ? parseEvidenceKey(ev.ek_public, 'ek_public') : undefined
  const mustBind = policy.require_known_ek || expected.pinnedEkSpki != null
  if (ek == null) {
    if (mustBind) { throw new AttestationError('EK_MISSING', 'the policy needs the EK and the evidence has none') }
    return undefined
  }
  if (expected.pinnedEkSpki != null && !same(ek.spki, expected.pinnedEkSpki)) {
    throw new AttestationError('AK_NOT_BOUND_TO_EK', 'the evidence comes from another TPM than the one pinned for this node')
  }
  if (ek.name == null || ak.name == null) {
    if (mustBind) { throw new AttestationError('AK_NOT_BOUND_TO_EK', 'EK and AK must come as TPM2B_PUBLIC to show the AK is a child of the EK') }
    return ek
  }
  if (!same(attest.qualifiedSigner, akQualifiedNameUnderEk(ek.name, ak.name))) {
    throw new AttestationError('AK_NOT_BOUND_TO_EK', 'the quote was not signed by an AK under this EK')
  }
  return ek
}

/** [REJECT] the PCR values sent must be exactly the quoted ones and hash to pcrDigest. */
function checkPcrDigest (attest: QuoteAttestation, pcrs: PcrValues, sigHash: string): PcrValues {
  if (attest.pcrSelect.length !== 1 || attest.pcrSelect[0].hash !== hashAlgId(pcrs.alg)) {
    throw new AttestationError('PCR_SELECTION_MISMATCH', `the quote must cover exactly one bank, ${pcrs.alg}`)
  }
  const quoted = attest.pcrSelect[0].indexes
  const sent = Object.keys(pcrs.values).map(Number).sort((a, b) => a - b)
  if (quoted.length !== sent.length || quoted.some((q, i) => q !== sent[i])) {
    throw new AttestationError('PCR_SELECTION_MISMATCH', `the quote covers PCRs [${quoted.join(',')}], the evidence sends [${sent.join(',')}]`)
  }
  // TPM2_Quote hashes the selected PCRs, in selection order, with the signing scheme's hash
  const h = createHash(sigHash)
  for (const i of quoted) { h.update(Buffer.from(pcrs.values[String(i)], 'hex')) }
  const digest = h.digest()
  const size = [...TPM_HASHES.values()].find(x => x.name === sigHash)?.size
  if (attest.pcrDigest.length !== size || !same(attest.pcrDigest, digest)) {
    throw new AttestationError('PCR_DIGEST_MISMATCH', 'the PCR values do not hash to the quoted pcrDigest')
  }
  return pcrs
}
