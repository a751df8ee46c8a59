import { MeshError } from '../errors.ts'

/** Bounded codes for input that is not well-formed PEM or DER. */
export type EncodingErrorCode =
  | 'MALFORMED_PEM'
  | 'PEM_LABEL_MISMATCH'
  | 'DER_WHERE_PEM_EXPECTED'
  | 'MALFORMED_DER'
  | 'TRUNCATED_DER'
  | 'TRAILING_DATA'
  | 'NESTING_TOO_DEEP'
  | 'INPUT_TOO_LARGE'

/** Raised for bytes that are not the strict PEM or DER we accept. */
export class EncodingError extends MeshError<EncodingErrorCode> {
  static name = 'EncodingError'
}
