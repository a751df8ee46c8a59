import { MeshError } from '../errors.ts'

/**
 * Bounded reasons a Block Confidentiality Block (RFC 9172 §3.8) is refused, on adding one or on
 * opening one. Structural CBOR faults of the bundle or of the security block stay BundleError
 * (MALFORMED_BUNDLE, LENGTH_OUT_OF_RANGE): these codes are about confidentiality only.
 */
export type BcbErrorCode =
  /** The BCB names a security context other than BCB-AES-GCM (RFC 9173 §4, context id 2). */
  | 'BCB_UNSUPPORTED_CONTEXT'
  /** A context parameter or result is missing, unknown, repeated or of the wrong size; or the caller's options are unusable. */
  | 'BCB_BAD_PARAMETERS'
  /** The targets or flags break RFC 9172 (§3.8, §3.9, §5.2): primary block, a BCB, a BIB apart from its targets, twice, a fragment. */
  | 'BCB_RULE_VIOLATION'
  /** The BCB needs a key of a kind the caller did not give (a KEK for a wrapped key, or a content key). */
  | 'BCB_NO_KEY'
  /** The wrapped key does not unwrap under the given KEK (RFC 3394 integrity check). */
  | 'BCB_UNWRAP_FAILED'
  /** AES-GCM authentication failed: ciphertext, tag, IV or an AAD-covered header was altered, or the key is wrong. */
  | 'BCB_TAG_MISMATCH'

export const BCB_ERROR_CODES: readonly BcbErrorCode[] = [
  'BCB_UNSUPPORTED_CONTEXT', 'BCB_BAD_PARAMETERS', 'BCB_RULE_VIOLATION', 'BCB_NO_KEY', 'BCB_UNWRAP_FAILED', 'BCB_TAG_MISMATCH'
]

/** True when `s` is one of the bounded codes. */
export function isBcbErrorCode (s: unknown): s is BcbErrorCode {
  return typeof s === 'string' && (BCB_ERROR_CODES as readonly string[]).includes(s)
}

/** Raised when a BCB cannot be added or opened. */
export class BcbError extends MeshError<BcbErrorCode> {
  static name = 'BcbError'
}
