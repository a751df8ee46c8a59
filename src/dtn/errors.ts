import { MeshError } from '../errors.ts'

/**
 * Bounded reasons a bundle is refused, from the wire decoder up to acceptance. Each hostile-input
 * test asserts one of these; logs and metrics label by them. Ordered roughly by where they arise.
 */
export type BundleErrorCode =
  /** Not the CBOR structure of a BPv7 bundle (or of our profile of it). */
  | 'MALFORMED_BUNDLE'
  /** A declared length, offset or count is beyond what we accept (up to 2^64-1 on the wire). */
  | 'LENGTH_OUT_OF_RANGE'
  /** The primary block's version is not 7. */
  | 'UNSUPPORTED_VERSION'
  /** A block's CRC does not match its bytes. */
  | 'CRC_MISMATCH'
  /** An endpoint id is not one this mesh uses (dtn://<node_id>/ or the broadcast EID). */
  | 'INVALID_EID'
  /** A bundle id (or a part of one) fails the syntax: never turned into a store key. */
  | 'INVALID_ID'
  /** Creation time, lifetime or hop limit outside the mesh's bounds. */
  | 'INVALID_FIELDS'
  /** A fragment's offset and length do not fit inside the total ADU length. */
  | 'FRAGMENT_OUT_OF_RANGE'
  /** A fragment overlaps one already held for the same bundle. */
  | 'FRAGMENT_OVERLAP'
  /** Fragments of one bundle disagree on total length or ADU digest. */
  | 'FRAGMENT_MISMATCH'
  /** The reassembled payload's SHA-256 differs from the digest the source signed. */
  | 'DIGEST_MISMATCH'
  /** The hop count exceeds the hop limit. */
  | 'HOP_LIMIT_EXCEEDED'
  /** The bundle's lifetime has passed (or it claims a creation time too far ahead of our clock). */
  | 'EXPIRED'
  | 'CREATED_IN_FUTURE'
  /** No source signature in the mesh's security context. */
  | 'MISSING_SIGNATURE'
  /** The signer's certificate chain does not verify. */
  | 'UNTRUSTED_SOURCE'
  /** The certificate names another node than the bundle's source EID. */
  | 'SOURCE_MISMATCH'
  /** The source's certificate is revoked. */
  | 'REVOKED_SOURCE'
  /** The source signature does not verify: the bundle was altered or forged. */
  | 'BAD_SIGNATURE'
  /** Under an enforcing attestation policy, the source's certificate lacks the attested-device extension. */
  | 'ORIGIN_NOT_ATTESTED'
  /** The local signer failed while creating a bundle. */
  | 'SIGNER_FAILED'
  /** `send` was called with unusable arguments (bad destination, ttl, payload size). */
  | 'INVALID_REQUEST'

export const BUNDLE_ERROR_CODES: readonly BundleErrorCode[] = [
  'MALFORMED_BUNDLE', 'LENGTH_OUT_OF_RANGE', 'UNSUPPORTED_VERSION', 'CRC_MISMATCH', 'INVALID_EID',
  'INVALID_ID', 'INVALID_FIELDS', 'FRAGMENT_OUT_OF_RANGE', 'FRAGMENT_OVERLAP', 'FRAGMENT_MISMATCH',
  'DIGEST_MISMATCH', 'HOP_LIMIT_EXCEEDED', 'EXPIRED', 'CREATED_IN_FUTURE', 'MISSING_SIGNATURE',
  'UNTRUSTED_SOURCE', 'SOURCE_MISMATCH', 'REVOKED_SOURCE', 'BAD_SIGNATURE', 'SIGNER_FAILED',
  'INVALID_REQUEST',
  'ORIGIN_NOT_ATTESTED'
]

/** True when `s` is one of the bounded codes (used on codes a remote peer reports in an ACK). */
export function isBundleErrorCode (s: unknown): s is BundleErrorCode {
  return typeof s === 'string' && (BUNDLE_ERROR_CODES as readonly string[]).includes(s)
}

/** Raised when a bundle is malformed, forged, revoked, expired or otherwise refused. */
export class BundleError extends MeshError<BundleErrorCode> {
  static name = 'BundleError'
  /** For UNTRUSTED_SOURCE: the chain verifier's own code (CHAIN_INVALID, EXPIRED, ...). */
  readonly chainCode?: string

  constructor (code: BundleErrorCode, message: string, options?: ErrorOptions & { chainCode?: string }) {
    super(code, message, options)
    if (options?.chainCode != null) { this.chainCode = options.chainCode }
  }
}
