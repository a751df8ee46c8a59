import { MeshError } from '../errors.ts'

/** Options of a client error: for a refusal, the service's catalogue code and HTTP status. */
export type ClientErrorOptions<S extends string> = ErrorOptions & { serverCode?: S, status?: number }

/**
 * Base of the errors our HTTP clients raise about a service: a bounded client code and, when the
 * service refused, its catalogue code and status, so a caller acts on the service's reason
 * (re-enroll, back off) without parsing messages.
 */
export class HttpClientError<C extends string, S extends string> extends MeshError<C> {
  static name = 'HttpClientError'
  readonly serverCode?: S
  readonly status?: number

  constructor (code: C, message: string, options?: ClientErrorOptions<S>) {
    super(code, message, options)
    if (options?.serverCode != null) { this.serverCode = options.serverCode }
    if (options?.status != null) { this.status = options.status }
  }
}
