import type { AttestationEvidence } from './schemas.ts'

/** What an attestation verifier concluded. `none`: no evidence was checked (nothing to accept or refuse). */
export interface AttestationVerdict {
  result: 'accept' | 'reject' | 'none'
  /** A short bounded reason for the log (e.g. "pcr-mismatch"); never evidence bytes. */
  reason?: string
}

/** What the verifier is given: the evidence (if any), who asks, and the key the certificate will bind. */
export interface AttestationInput {
  evidence?: AttestationEvidence
  nodeId: string
  /** SubjectPublicKeyInfo DER of the CSR key: evidence must cover it (e.g. a quote over its hash). */
  csrSpki: Uint8Array
  now: Date
}

/** The hook the enrollment service calls for every enroll and rotate. TPM quotes plug in here later. */
export interface AttestationVerifier {
  verify(input: AttestationInput): Promise<AttestationVerdict>
}

/**
 * The software verifier: it checks nothing and says so ("none"), whatever evidence arrives. With
 * `require_attestation` off (the default) that admits the node; with it on, "none" is a refusal.
 */
export const softwareAttestationVerifier: AttestationVerifier = {
  async verify () {
    return { result: 'none', reason: 'software-verifier' }
  }
}
