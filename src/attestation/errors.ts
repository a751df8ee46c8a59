import { MeshError } from '../errors.ts'

/**
 * Bounded codes for attestation refusals. Enrollment answers 403 with the code; the attest
 * protocol logs and counts it and demotes the peer. One code per reason a verifier can name.
 */
export type AttestationErrorCode =
  | 'MALFORMED_EVIDENCE' // wrong shape, sizes out of bounds, truncated or trailing TPM structures
  | 'UNSUPPORTED_ALGORITHM' // a key, signature or PCR bank algorithm the verifier does not take
  | 'BAD_MAGIC' // TPMS_ATTEST.magic is not TPM_GENERATED_VALUE (0xff544347): not made by a TPM
  | 'BAD_TYPE' // TPMS_ATTEST.type is not TPM_ST_ATTEST_QUOTE (0x8018)
  | 'BAD_SIGNATURE' // the AK signature over the quote does not verify
  | 'NONCE_MISMATCH' // extraData is not SHA-256(the nonce this verifier issued || the identity SPKI)
  | 'PCR_SELECTION_MISMATCH' // the PCRs sent are not exactly the PCRs the quote covers
  | 'PCR_DIGEST_MISMATCH' // the PCR values sent do not hash to the quote's pcrDigest
  | 'PCR_MISSING' // the policy needs a PCR the quote does not cover
  | 'PCR_NOT_ALLOWED' // a quoted PCR value is not one the policy allows
  | 'EVIDENCE_TOO_OLD' // the nonce was issued longer ago than the policy's maximum age
  | 'REPLAYED' // this very quote was accepted before
  | 'AK_NOT_RESTRICTED' // the AK is not a fixedTPM restricted signing key (or only its SPKI was sent)
  | 'AK_NOT_BOUND_TO_EK' // the AK is not a child of the EK pinned for this node
  | 'AK_MISMATCH' // the AK is not the one pinned for this node
  | 'EK_MISSING' // the policy needs the EK and the evidence carries none
  | 'NONE_NOT_ALLOWED' // evidence type `none` and the policy wants a TPM
  | 'BAD_POLICY' // the policy document itself is invalid

/** Raised by the evidence parsers, the quote verifier and the policy loader. */
export class AttestationError extends MeshError<AttestationErrorCode> {
  static name = 'AttestationError'
}
