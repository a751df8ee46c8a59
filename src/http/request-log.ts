import { pino } from 'pino'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { DestinationStream, Logger } from 'pino'

/**
 * Paths pino censors wherever they appear. The services never log bodies, headers or errors'
 * messages; this is the second line of defence if a future change does.
 */
export const REDACT_PATHS = [
  'token', 'csr', 'attestation', 'key', 'passphrase',
  '*.token', '*.csr', '*.attestation', '*.key', '*.passphrase',
  'req.headers.authorization', 'req.headers.cookie', 'body', '*.body'
]

/** A JSON pino logger for the service named `service` (the `svc` field), with secrets redacted. */
export function createJsonLogger (options: { service: string, level?: string, destination?: DestinationStream }): Logger {
  return pino({
    level: options.level ?? 'info',
    base: { svc: options.service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime
  }, options.destination ?? pino.destination(1))
}

/** Per-request fields a handler may add to the one log line (standard field names only). */
export interface RequestLogFields {
  node_id?: string
  serial?: string
  code?: string
  /** Name on the admin certificate that made the request. */
  admin?: string
  lib_code?: string
  cause?: string
}

const FIELDS = Symbol('dadm-mesh.log-fields')

/** Adds standard fields to this request's log line. */
export function logFields (request: FastifyRequest, fields: RequestLogFields): void {
  const r = request as unknown as Record<symbol, RequestLogFields | undefined>
  r[FIELDS] = { ...r[FIELDS], ...fields }
}

/**
 * One line per request, written when the response is done: method, route (the pattern, not the
 * raw URL, so no query string reaches the log), status, duration and the standard fields.
 * Fastify's own two lines per request are turned off in `mtls-server.ts`. Level by status:
 * info for answers, debug for refusals (4xx), error for faults (5xx).
 */
export function installRequestLog (app: FastifyInstance): void {
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const extra = (request as unknown as Record<symbol, RequestLogFields | undefined>)[FIELDS]
    // A refused request (4xx) is the client's mistake or a probe: at debug, so that a scan or a
    // misconfigured node cannot flood the operator's log; server faults (5xx) are errors.
    const status = reply.statusCode
    const level = status >= 500 ? 'error' : status >= 400 ? 'debug' : 'info'
    request.log[level]({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      peer_addr: request.ip,
      ...extra
    }, 'request')
  })
}
