import type { AttestationEvidence } from './schemas.ts'

/**
 * The TPM an enrolled node attested with: EK and AK as SPKI DER (and TPM Names when known). The
 * CA pins it per node_id at first enrollment; rotations and re-enrollments must match it.
 */
export interface DeviceBinding {
  ekSpki?: Uint8Array
  akSpki: Uint8Array
  ekName?: Uint8Array
  akName?: Uint8Array
}

/** The catalogue codes an attestation refusal answers with (all 403). */
export type AttestationRejectCode =
  | 'ATTESTATION_REQUIRED'
  | 'ATTESTATION_NONCE_INVALID'
  | 'ATTESTATION_REPLAYED'
  | 'ATTESTATION_PCR_MISMATCH'
  | 'ATTESTATION_DEVICE_MISMATCH'
  | 'ATTESTATION_REJECTED'

/** What an attestation verifier concluded. `none`: no evidence was checked (nothing to accept or refuse). */
export interface AttestationVerdict {
  result: 'accept' | 'reject' | 'none'
  /** A short bounded reason for the log (e.g. "PCR_NOT_ALLOWED"); never evidence bytes. */
  reason?: string
  /** For `reject`: the catalogue code to answer with. @default 'ATTESTATION_REJECTED' */
  code?: AttestationRejectCode
  /** For `accept` of a TPM quote: the device that produced it, for the CA to pin. */
  device?: DeviceBinding
}

/** What the verifier is given: the evidence (if any), who asks, and the key the certificate will bind. */
export interface AttestationInput {
  evidence?: AttestationEvidence
  nodeId: string
  /** SubjectPublicKeyInfo DER of the CSR key: evidence must cover it (e.g. a quote over its hash). */
  csrSpki: Uint8Array
  now: Date
  /** The device pinned for this node_id at an earlier enrollment, if any. */
  pinned?: DeviceBinding
}

/** The hook the enrollment service calls for every enroll and rotate. */
export interface AttestationVerifier {
  verify(input: AttestationInput): Promise<AttestationVerdict>
}

/**
 * The software verifier: it checks nothing and says so ("none"), whatever evidence arrives. With
 * `require_attestation` off (the default) that admits the node; with it on, "none" is a refusal.
 * A CA with `attestation-policy.json` uses `TpmAttestationVerifier` instead.
 */
export const softwareAttestationVerifier: AttestationVerifier = {
  async verify () {
    return { result: 'none', reason: 'software-verifier' }
  }
}
