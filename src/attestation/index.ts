/**
 * Device attestation with TPM 2.0 quotes: the evidence format, the pure verifier and its
 * policy (for the CA at enrollment and for the attest protocol), and the tpm2-tools backend a
 * node uses to produce evidence.
 */
export { AttestationError } from './errors.ts'
export type { AttestationErrorCode } from './errors.ts'
export { evidenceToJson, newNonce, parseEvidence, quoteQualifyingData, MIN_NONCE_BYTES, MAX_NONCE_BYTES } from './evidence.ts'
export type { Evidence, NoneEvidence, PcrValues, TpmQuoteEvidence } from './evidence.ts'
export { checkPcrPolicy, DEFAULT_ATTESTATION_POLICY, parseAttestationPolicy, policyPcrSelection } from './policy.ts'
export type { AttestationPolicy } from './policy.ts'
export { ReplayCache } from './replay-cache.ts'
export { verifyQuote } from './verify-quote.ts'
export type { AttestationVerdict, ExpectedEvidence } from './verify-quote.ts'
export { parseTpmsAttest, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE } from './tpms-attest.ts'
export type { QuoteAttestation } from './tpms-attest.ts'
export { parseEvidenceKey, parseTpm2bPublic } from './tpm-public.ts'
export { checkActivation, credentialFile, makeCredential } from './credential.ts'
export type { CredentialChallenge } from './credential.ts'
export { Tpm, TpmError } from './tpm.ts'
export type { QuoteOptions, TpmErrorCode, TpmInit, TpmKey } from './tpm.ts'
export { Swtpm, swtpmMissing } from './swtpm.ts'
export type { PcrBank } from './tpm-reader.ts'
