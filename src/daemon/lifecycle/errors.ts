import { MeshError } from '../../errors.ts'
import type { EnrollmentErrorCode } from '../../enrollment/errors.ts'

/** Bounded reasons a rotation or renewal did not happen. */
export type LifecycleErrorCode =
  /** Network, TLS or deadline failure talking to the CA: retried with back-off. */
  | 'CA_UNREACHABLE'
  /** The CA answered with an error (`serverCode`); retried at the longest back-off. */
  | 'CA_REFUSED'
  /** The answer is not a certificate for our new key, node_id and PeerId under the roots we trust. */
  | 'BAD_RESPONSE'
  /**
   * The CA will not renew this certificate: the renewal window after expiry has passed, the
   * certificate or the node_id is revoked. Only a new enrollment (a token) helps; not retried.
   */
  | 'REENROLL_REQUIRED'
  /** node.json names no CA URL to rotate against. */
  | 'NO_CA_URL'
  /** The lifecycle was stopped while the operation ran. */
  | 'STOPPED'

/** CA answers after which retrying cannot help: the node must enroll again. */
export const REENROLL_CODES: ReadonlySet<EnrollmentErrorCode> = new Set(['RENEWAL_WINDOW_PASSED', 'CERT_REVOKED', 'NODE_REVOKED', 'CERT_SUPERSEDED', 'ALREADY_RENEWED'])

/** Raised by the certificate lifecycle (rotation, renewal, notices). */
export class LifecycleError extends MeshError<LifecycleErrorCode> {
  static name = 'LifecycleError'
  /** For CA_REFUSED and REENROLL_REQUIRED: the enrollment service's catalogue code. */
  readonly serverCode?: EnrollmentErrorCode
  readonly status?: number

  constructor (code: LifecycleErrorCode, message: string, options?: ErrorOptions & { serverCode?: EnrollmentErrorCode, status?: number }) {
    super(code, message, options)
    if (options?.serverCode != null) { this.serverCode = options.serverCode }
    if (options?.status != null) { this.status = options.status }
  }
}
