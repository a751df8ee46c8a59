import { CsrRejectedError, IssuanceError } from '../ca/errors.ts'
import { ChainValidationError } from '../pki/chain-errors.ts'
import { NodeIdentityError } from '../pki/node-identity.ts'
import { StoreError } from '../store/errors.ts'
import { TokenError } from '../store/token-store.ts'
import { EncodingError } from '../util/encoding-errors.ts'
import { ENROLLMENT_CATALOGUE, EnrollmentError } from './errors.ts'
import type { EnrollmentErrorCode } from './errors.ts'
import type { ErrorMap } from '../http/error-handler.ts'

/**
 * How HTTP-level failures map into the catalogue: the body field a schema failure concerns
 * decides the 400 code (token, node_id, CSR, serial, other), and JSON the service cannot read is
 * INVALID_JSON rather than the generic INVALID_REQUEST.
 */
export const ENROLLMENT_HTTP_ERRORS: ErrorMap<EnrollmentErrorCode> = {
  catalogue: ENROLLMENT_CATALOGUE,
  Error: EnrollmentError,
  invalidJson: 'INVALID_JSON',
  fields: {
    '/token': 'INVALID_TOKEN_FORMAT',
    '/node_id': 'INVALID_NODE_ID',
    '/csr': 'INVALID_CSR',
    '/serial': 'INVALID_SERIAL',
    '/current_cert_serial': 'INVALID_SERIAL'
  }
}

const ISSUANCE: Partial<Record<string, EnrollmentErrorCode>> = {
  NODE_REVOKED: 'NODE_REVOKED',
  NODE_ID_TAKEN: 'NODE_ID_TAKEN',
  UNKNOWN_SERIAL: 'UNKNOWN_SERIAL',
  UNKNOWN_NODE_ID: 'UNKNOWN_NODE_ID',
  NODE_NOT_BLOCKED: 'NODE_NOT_BLOCKED',
  INVALID_NODE_ID: 'INVALID_NODE_ID',
  BAD_REASON: 'INVALID_REQUEST',
  VALIDITY_OUT_OF_RANGE: 'INVALID_REQUEST',
  BAD_PROFILE_INPUT: 'INVALID_REQUEST'
}

const TOKEN: Record<string, EnrollmentErrorCode> = {
  TOKEN_REJECTED: 'TOKEN_REJECTED',
  TOKEN_NODE_MISMATCH: 'TOKEN_NODE_MISMATCH',
  INVALID_TOKEN_FORMAT: 'INVALID_TOKEN_FORMAT',
  INVALID_TOKEN_PARAMS: 'INVALID_TOKEN_PARAMS'
}

/**
 * Maps an error from the CA, the token store or the parsers to the catalogue, keeping the original
 * as `cause` for the log. Unknown errors become INTERNAL (a 500 whose body says nothing more).
 */
export function toEnrollmentError (err: unknown): EnrollmentError {
  if (err instanceof EnrollmentError) { return err }
  const options = { cause: err }
  if (err instanceof TokenError) { return new EnrollmentError(TOKEN[err.code] ?? 'INTERNAL', options) }
  if (err instanceof EncodingError) { return new EnrollmentError('INVALID_CSR', options) }
  if (err instanceof CsrRejectedError) {
    return new EnrollmentError(err.code === 'NODE_ID_MISMATCH' ? 'NODE_ID_CONFLICT' : 'INVALID_CSR', options)
  }
  if (err instanceof StoreError && err.code === 'NOTICE_LIMIT') { return new EnrollmentError('NOTICE_LIMIT', options) }
  if (err instanceof IssuanceError) { return new EnrollmentError(ISSUANCE[err.code] ?? 'INTERNAL', options) }
  if (err instanceof ChainValidationError || err instanceof NodeIdentityError) { return new EnrollmentError('CLIENT_CERT_INVALID', options) }
  return new EnrollmentError('INTERNAL', options)
}
