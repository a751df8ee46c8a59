import { errorCatalogue } from '../http/error-catalogue.ts'
import type { HttpErrorBody } from '../http/error-catalogue.ts'

/**
 * The one catalogue of errors the enrollment service answers with (see errorCatalogue): each
 * code has one HTTP status and one fixed message, and nothing a caller could use to probe leaks
 * (for instance, "unknown token" and "used token" are the same TOKEN_REJECTED).
 */
export const ENROLLMENT_ERRORS = {
  INVALID_REQUEST: { status: 400, message: 'the request does not match the API schema' },
  INVALID_JSON: { status: 400, message: 'the request body is not acceptable JSON' },
  FORBIDDEN_JSON_KEY: { status: 400, message: 'the request body contains a forbidden key (__proto__ or constructor)' },
  INVALID_CSR: { status: 400, message: 'the CSR is not one valid PEM certificate request this CA accepts' },
  INVALID_TOKEN_FORMAT: { status: 400, message: 'the token is not in the enrollment token format' },
  INVALID_NODE_ID: { status: 400, message: 'the node_id is not a valid node identifier' },
  NODE_ID_REQUIRED: { status: 400, message: 'no node_id given in the request, the CSR or the token' },
  NODE_ID_CONFLICT: { status: 400, message: 'the node_id in the request differs from the one in the CSR' },
  INVALID_SERIAL: { status: 400, message: 'the serial is not a hexadecimal certificate serial' },
  SERIAL_MISMATCH: { status: 400, message: 'current_cert_serial is not the serial of the client certificate' },
  INVALID_TOKEN_PARAMS: { status: 400, message: 'ttl or uses is out of range' },
  INVALID_ADMIN_NAME: { status: 400, message: 'the admin name is not a valid identifier' },
  INVALID_REVOKE_TARGET: { status: 400, message: 'give exactly one of serial and node_id' },
  TOKEN_REJECTED: { status: 401, message: 'the token is unknown, used or expired' },
  CLIENT_CERT_REQUIRED: { status: 401, message: 'this route needs a client certificate (mutual TLS)' },
  CLIENT_CERT_INVALID: { status: 401, message: 'the client certificate is not a valid, unrevoked mesh certificate' },
  CLIENT_CERT_WRONG_ROLE: { status: 401, message: 'the client certificate does not carry the role this route needs' },
  RENEWAL_NONCE_INVALID: { status: 401, message: 'the renewal does not answer a live nonce from GET /v1/renew/nonce' },
  RENEWAL_PROOF_INVALID: { status: 401, message: 'the proof does not verify under the key of the certificate being renewed' },
  TOKEN_NODE_MISMATCH: { status: 403, message: 'the token is bound to another node_id' },
  NODE_NOT_ALLOWED: { status: 403, message: 'the node_id is not on the allow list' },
  MAX_NODES_REACHED: { status: 403, message: 'the mesh has reached its maximum number of nodes' },
  NODE_REVOKED: { status: 403, message: 'the node_id has been revoked; an operator must clear it first' },
  CERT_REVOKED: { status: 403, message: 'the certificate, or a CA certificate above it, is revoked: it cannot be renewed' },
  RENEWAL_WINDOW_PASSED: { status: 403, message: 'the certificate expired longer ago than the renewal window allows: enroll again with a new token' },
  ATTESTATION_REJECTED: { status: 403, message: 'the attestation does not satisfy the policy' },
  ATTESTATION_REQUIRED: { status: 403, message: 'the attestation policy requires TPM evidence' },
  ATTESTATION_NONCE_INVALID: { status: 403, message: 'the evidence does not answer a live nonce from GET /v1/enroll/nonce' },
  ATTESTATION_REPLAYED: { status: 403, message: 'this attestation evidence was already used' },
  ATTESTATION_PCR_MISMATCH: { status: 403, message: 'the quoted PCR values do not satisfy the attestation policy' },
  ATTESTATION_DEVICE_MISMATCH: { status: 403, message: 'the evidence does not come from the TPM this node_id enrolled with' },
  UNKNOWN_SERIAL: { status: 404, message: 'no certificate with that serial was issued by this CA' },
  UNKNOWN_NODE_ID: { status: 404, message: 'this CA never issued a certificate to that node_id; to block it anyway, ask for block_unknown (--block-unknown)' },
  NODE_NOT_BLOCKED: { status: 404, message: 'that node_id is not blocked' },
  NOT_FOUND: { status: 404, message: 'no such route' },
  REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time' },
  CERT_NOT_EXPIRED: { status: 409, message: 'the certificate has not expired: a valid certificate rotates with POST /v1/rotate (mutual TLS)' },
  CERT_SUPERSEDED: { status: 409, message: 'a newer certificate has superseded this one for its node_id: it can mint no further certificate' },
  ALREADY_RENEWED: { status: 409, message: 'this certificate was already renewed: a serial renews at most once' },
  NODE_ID_TAKEN: { status: 409, message: 'a live certificate is already issued for this node_id: enroll under another node_id, or have the operator mint a replacement token (ca token --node-id ID --replace)' },
  NOTICE_LIMIT: { status: 409, message: 'the CA keeps as many unexpired notices as it hands out: let some expire, or give a shorter ttl' },
  BACKUP_TARGET_NOT_EMPTY: { status: 409, message: 'the backup directory exists and is not empty (or lies inside the CA directory)' },
  BACKUP_TARGET_UNWRITABLE: { status: 409, message: 'the CA service cannot create or write the backup directory: it writes as the CA\'s user' },
  BACKUP_TOO_LARGE: { status: 409, message: 'the CA directory holds more files or bytes than a CA directory does' },
  UNSUPPORTED_FILE: { status: 409, message: 'the CA directory holds a symbolic link or another non-regular file' },
  BODY_TOO_LARGE: { status: 413, message: 'the request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'the request body must be application/json' },
  HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are too large' },
  RATE_LIMITED: { status: 429, message: 'too many requests; retry after the number of seconds in Retry-After' },
  INTERNAL: { status: 500, message: 'internal error' },
  UNAVAILABLE: { status: 503, message: 'the service is shutting down' }
} as const satisfies Record<string, { status: number, message: string }>

/** Bounded set of error codes the enrollment service can answer with. */
export type EnrollmentErrorCode = keyof typeof ENROLLMENT_ERRORS

/** The enrollment catalogue, from which the shared HTTP layer builds every error answer. */
export const ENROLLMENT_CATALOGUE = errorCatalogue(ENROLLMENT_ERRORS)

/** The JSON body of every error response. */
export type ErrorBody = HttpErrorBody<EnrollmentErrorCode>

/**
 * Raised by the enrollment service; the HTTP layer answers with the catalogue's status and
 * message, never with `cause` (kept for the log only).
 */
export class EnrollmentError extends ENROLLMENT_CATALOGUE.Error {
  static name = 'EnrollmentError'
}

/** True when `s` is a catalogue code (used when a body comes back over the wire). */
export const isEnrollmentErrorCode = ENROLLMENT_CATALOGUE.isCode

/** The response body for `code`, built only from the catalogue. */
export const errorBody = ENROLLMENT_CATALOGUE.body
