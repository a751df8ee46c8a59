import { MeshError } from '../../src/errors.ts'
import type { AttestationErrorCode } from '../../src/attestation/errors.ts'

/** Bounded reasons an attest round fails at the protocol level (the evidence itself fails with AttestationErrorCode). */
export type AttestProtocolErrorCode =
  /** The round trip did not finish within its deadline. */
  | 'TIMEOUT'
  /** A frame's length prefix exceeds the maximum; the body was never read. */
  | 'FRAME_TOO_LARGE'
  /** A frame is not the CBOR message expected at this step. */
  | 'MALFORMED_MESSAGE'
  /** The peer speaks another wire version. */
  | 'UNSUPPORTED_VERSION'
  /** The peer does not speak the attest protocol. */
  | 'PROTOCOL_UNSUPPORTED'
  /** The stream or connection closed before the round ended. */
  | 'CLOSED'
  /** The prover could not produce evidence (its TPM failed). */
  | 'PROVER_FAILED'
  /** The prover answered this peer too recently and asks it to come back later. */
  | 'RATE_LIMITED'
  /** The verifier refused our evidence; `remoteCode` says why. */
  | 'REMOTE_REJECTED'
  /** The peer did not pass attestation within the policy's pending deadline after auth. */
  | 'PENDING_TIMEOUT'
  /** Under an enforcing policy the peer is pending or failed: this node takes nothing from it. */
  | 'NOT_ATTESTED'

export const ATTEST_PROTOCOL_ERROR_CODES: readonly AttestProtocolErrorCode[] = [
  'TIMEOUT', 'FRAME_TOO_LARGE', 'MALFORMED_MESSAGE', 'UNSUPPORTED_VERSION', 'PROTOCOL_UNSUPPORTED', 'CLOSED', 'PROVER_FAILED', 'RATE_LIMITED', 'REMOTE_REJECTED', 'PENDING_TIMEOUT', 'NOT_ATTESTED'
]

/** Every reason an attestation of a peer fails: protocol, evidence, or a peer that attested with a TPM before now sending `none`. */
export type AttestFailureCode = AttestProtocolErrorCode | AttestationErrorCode | 'DOWNGRADED'

const EVIDENCE_CODES: readonly AttestationErrorCode[] = [
  'MALFORMED_EVIDENCE', 'UNSUPPORTED_ALGORITHM', 'BAD_MAGIC', 'BAD_TYPE', 'BAD_SIGNATURE', 'NONCE_MISMATCH',
  'PCR_SELECTION_MISMATCH', 'PCR_DIGEST_MISMATCH', 'PCR_MISSING', 'PCR_NOT_ALLOWED', 'EVIDENCE_TOO_OLD', 'REPLAYED',
  'AK_NOT_RESTRICTED', 'AK_NOT_BOUND_TO_EK', 'AK_MISMATCH', 'EK_MISSING', 'NONE_NOT_ALLOWED', 'BAD_POLICY'
]

/** True when `s` is one of the bounded failure codes (used on codes a remote peer reports). */
export function isAttestFailureCode (s: unknown): s is AttestFailureCode {
  return typeof s === 'string' && ((ATTEST_PROTOCOL_ERROR_CODES as readonly string[]).includes(s) || (EVIDENCE_CODES as readonly string[]).includes(s) || s === 'DOWNGRADED')
}

/** Raised by the attest codec and stream handlers. */
export class AttestProtocolError extends MeshError<AttestProtocolErrorCode> {
  static name = 'AttestProtocolError'
  /** For REMOTE_REJECTED and refusals: the code the peer sent, when it was one of ours. */
  readonly remoteCode?: AttestFailureCode

  constructor (code: AttestProtocolErrorCode, message: string, options?: ErrorOptions & { remoteCode?: AttestFailureCode }) {
    super(code, message, options)
    if (options?.remoteCode != null) { this.remoteCode = options.remoteCode }
  }
}
