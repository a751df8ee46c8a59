import { ANOMALY_VALIDATION_CODES } from '../../../protocols/anomaly-gossip/errors.ts'
import { errorCatalogue } from '../../http/error-catalogue.ts'
import type { AnomalyValidationCode } from '../../../protocols/anomaly-gossip/errors.ts'
import type { HttpErrorBody } from '../../http/error-catalogue.ts'
import type { ErrorMap } from '../../http/error-handler.ts'

/**
 * A submitted envelope (pre-signed publication) refused with the gossip validator's own code, so
 * the submitter learns exactly what a receiving node would have said: 409 for a message the node
 * holds, 422 for the rest.
 */
const ENVELOPE_REFUSALS = Object.fromEntries(ANOMALY_VALIDATION_CODES.map(code => [code, {
  status: code === 'REPLAYED' || code === 'CONFLICTING_PAYLOAD' ? 409 : 422,
  message: `the envelope is refused as a received message would be: ${code}`
}])) as Record<AnomalyValidationCode, { status: number, message: string }>

/** The one catalogue of errors the node admin API answers with (see errorCatalogue). */
export const NODE_API_ERRORS = {
  ...ENVELOPE_REFUSALS,
  MESSAGE_NOT_FOUND: { status: 404, message: 'this node holds no anomaly signature with that message_id' },
  NO_ENVELOPE: { status: 409, message: 'the stored record predates signed envelopes; there is nothing to verify' },
  INVALID_REQUEST: { status: 400, message: 'the request does not match the API schema' },
  CLIENT_CERT_REQUIRED: { status: 401, message: 'the node API needs a client certificate (mutual TLS)' },
  CLIENT_CERT_INVALID: { status: 401, message: 'the client certificate is not a valid, unrevoked mesh certificate' },
  CLIENT_CERT_WRONG_ROLE: { status: 401, message: 'the client certificate is neither this node\'s nor an operator\'s' },
  NOT_FOUND: { status: 404, message: 'no such route' },
  REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time' },
  BODY_TOO_LARGE: { status: 413, message: 'the request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'the request body must be application/json' },
  GOSSIP_DISABLED: { status: 409, message: 'this node runs without gossip' },
  BUNDLES_DISABLED: { status: 409, message: 'this node runs without DTN bundles' },
  HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are too large' },
  INTERNAL: { status: 500, message: 'internal error' },
  STORE_FULL: { status: 507, message: 'the bundle store is full (its quota); nothing was stored' },
  UNAVAILABLE: { status: 503, message: 'the node is shutting down' }
} as const satisfies Record<string, { status: number, message: string }>

/** Bounded set of codes the node admin API answers with. */
export type NodeApiErrorCode = keyof typeof NODE_API_ERRORS

/** The node API catalogue, from which the shared HTTP layer builds every error answer. */
export const NODE_API_CATALOGUE = errorCatalogue(NODE_API_ERRORS)

/** The JSON body of every error response. */
export type NodeApiErrorBody = HttpErrorBody<NodeApiErrorCode>

/** Raised inside the node API; the HTTP layer answers with the catalogue's status and message, never `cause`. */
export class NodeApiError extends NODE_API_CATALOGUE.Error {
  static name = 'NodeApiError'
}

/**
 * How HTTP-level failures map into the catalogue: the API has no per-field codes and reads bodies
 * with fastify's parser, so every schema or JSON failure is INVALID_REQUEST.
 */
export const NODE_API_HTTP_ERRORS: ErrorMap<NodeApiErrorCode> = { catalogue: NODE_API_CATALOGUE, Error: NodeApiError }

/** True when `s` is a catalogue code (a body read back over the wire). */
export const isNodeApiErrorCode = NODE_API_CATALOGUE.isCode

/** The response body for `code`. */
export const nodeApiErrorBody = NODE_API_CATALOGUE.body
