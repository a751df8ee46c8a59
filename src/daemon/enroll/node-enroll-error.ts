import { HttpClientError } from '../../http/client-error.ts'
import type { EnrollmentErrorCode } from '../../enrollment/errors.ts'

export type NodeEnrollErrorCode =
  | 'ALREADY_ENROLLED' // NODEDIR already holds node.json
  | 'INVALID_NODE_ID'
  | 'BAD_CA_CERT' // the pinned CA file is not PEM certificates
  | 'UNREACHABLE' // network failure or deadline: nothing answered
  | 'TLS_UNTRUSTED' // the service's certificate does not chain to the pinned CA (wrong --ca-cert)
  | 'NAME_MISMATCH' // it chains, but does not name the --ca-url host (ca serve --server-name)
  | 'REFUSED' // the CA answered with an error; `serverCode` says which
  | 'BAD_RESPONSE' // the answer is not a certificate for us that chains to the pinned CA

/** Raised by `enrollNode`; for REFUSED, `serverCode` is the service's catalogue code. */
export class NodeEnrollError extends HttpClientError<NodeEnrollErrorCode, EnrollmentErrorCode> {
  static name = 'NodeEnrollError'
}
