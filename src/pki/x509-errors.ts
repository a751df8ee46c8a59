import { MeshError } from '../errors.ts'

/**
 * Bounded codes for certificates and CRLs that are well-formed DER but not well-formed X.509
 * (DER-level problems stay EncodingError).
 */
export type X509FormatErrorCode =
  | 'MALFORMED_CERTIFICATE'
  | 'MALFORMED_CRL'
  | 'MALFORMED_NAME'
  | 'MALFORMED_EXTENSION'
  | 'DUPLICATE_EXTENSION'
  | 'UNSUPPORTED_VERSION'

/** Raised by the certificate and CRL parsers for structurally wrong X.509. */
export class X509FormatError extends MeshError<X509FormatErrorCode> {
  static name = 'X509FormatError'
}
