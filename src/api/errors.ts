import { MeshError } from '../errors.ts'

/**
 * The one catalogue of errors the node admin API answers with: each code has one HTTP status and
 * one fixed message, and bodies are built only from this table (no stack, no library message).
 */
export const NODE_API_ERRORS = {
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

/** The JSON body of every error response. */
export interface NodeApiErrorBody {
  error: { code: NodeApiErrorCode, message: string }
}

/** Raised inside the node API; the HTTP layer answers with the catalogue's status and message, never `cause`. */
export class NodeApiError extends MeshError<NodeApiErrorCode> {
  static name = 'NodeApiError'

  constructor (code: NodeApiErrorCode, options?: ErrorOptions) {
    super(code, NODE_API_ERRORS[code].message, options)
  }

  get status (): number {
    return NODE_API_ERRORS[this.code].status
  }
}

/** True when `s` is a catalogue code (a body read back over the wire). */
export function isNodeApiErrorCode (s: unknown): s is NodeApiErrorCode {
  return typeof s === 'string' && Object.hasOwn(NODE_API_ERRORS, s)
}

/** The response body for `code`. */
export function nodeApiErrorBody (code: NodeApiErrorCode): NodeApiErrorBody {
  return { error: { code, message: NODE_API_ERRORS[code].message } }
}
