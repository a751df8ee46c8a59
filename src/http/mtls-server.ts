import Fastify, { LogController } from 'fastify'
import { catalogueClientErrorHandler, installErrorHandlers } from './error-handler.ts'
import { installJsonParser } from './json-body.ts'
import { installRequestLog } from './request-log.ts'
import type { ErrorMap } from './error-handler.ts'
import type { JsonRefusal } from './json-body.ts'
import type { FastifyHttpsOptions, FastifyInstance } from 'fastify'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'

/**
 * The oldest TLS version the services speak. Node's `setSecureContext` builds the new context from
 * the options it is given and falls back to the library default (TLS 1.2) for a version left out,
 * so every place that installs a certificate (start and each renewal) must pass this again.
 */
export const TLS_MIN_VERSION = 'TLSv1.3' as const

export interface MtlsServerOptions<C extends string> {
  /** Server certificate chain (leaf first) and key, PEM. */
  tls: { certPem: string, keyPem: string }
  /** Roots the TLS layer names in its CertificateRequest; route hooks do the real check. */
  clientCaPem: string
  /** JSON request log; false for none. */
  logger: Logger | false
  /** Largest request body in bytes. */
  bodyLimit: number
  /** Deadline for a whole request and for an idle new connection, ms. */
  requestTimeoutMs: number
  /** Idle keep-alive sockets are closed after this, ms. @default fastify's (72 s) */
  keepAliveTimeoutMs?: number
  /** On close: `'idle'` lets requests in flight finish, `true` cuts every connection. */
  forceCloseConnections: boolean | 'idle'
  /** The service's catalogue and how failures map into it. */
  errors: ErrorMap<C>
  /**
   * Strict bodies, for a service that guards a CA: only application/json, read by our own parser
   * (`refuse` gives the service's error for each refusal), and schemas that neither strip unknown
   * fields nor coerce types nor fill defaults, so a typo or a smuggled field is a 400 rather than
   * silently ignored. Absent: fastify's JSON parser and its Ajv defaults.
   */
  strictBodies?: { refuse(why: JsonRefusal): Error }
}

/** A running (or ready to run) HTTPS service. */
export interface MtlsServer {
  readonly app: FastifyInstance
  /** Listens on host:port (port 0 picks a free one) and returns the base URL. */
  listen(options: { host: string, port: number }): Promise<{ url: string, host: string, port: number }>
  /** Swaps the TLS server certificate (a renewed one). */
  setTls(tls: { certPem: string, keyPem: string }): void
  /** Stops accepting, answers UNAVAILABLE to new requests, closes. Idempotent. */
  close(): Promise<void>
}

/**
 * Fastify over `node:https`, TLS 1.3 only, the client certificate requested but not required at
 * the TLS layer (`requestCert: true, rejectUnauthorized: false`): routes judge the presented chain
 * with our own validator in a hook, so a client without a certificate, or with a foreign one, gets
 * a catalogue 401 rather than a TLS alert it cannot read, and public routes serve any client.
 * Every failure, including unparsable HTTP, answers with a catalogue body; one log line per
 * request. The caller adds its hooks and routes to `app`, then awaits `app.ready()`.
 */
export function createMtlsServer<C extends string> (options: MtlsServerOptions<C>): MtlsServer {
  const { tls, clientCaPem, logger, errors, strictBodies } = options
  const fastifyOptions: FastifyHttpsOptions<HttpsServer> = {
    https: { key: tls.keyPem, cert: tls.certPem, ca: clientCaPem, requestCert: true, rejectUnauthorized: false, minVersion: TLS_MIN_VERSION },
    ...(logger === false ? { logger: false } : { loggerInstance: logger }),
    // Our one line per request (request-log.ts) replaces fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // Clients do not choose our request ids (they end up in logs).
    requestIdHeader: false,
    bodyLimit: options.bodyLimit,
    requestTimeout: options.requestTimeoutMs,
    connectionTimeout: options.requestTimeoutMs,
    ...(options.keepAliveTimeoutMs != null ? { keepAliveTimeout: options.keepAliveTimeoutMs } : {}),
    // Requests that arrive while closing get the catalogue's UNAVAILABLE from the hook below.
    return503OnClosing: false,
    clientErrorHandler: catalogueClientErrorHandler(errors.catalogue),
    forceCloseConnections: options.forceCloseConnections,
    ...(strictBodies != null
      ? {
          onProtoPoisoning: 'error',
          onConstructorPoisoning: 'error',
          ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } }
        } as const
      : {})
  }
  const app = Fastify(fastifyOptions) as unknown as FastifyInstance
  if (strictBodies != null) { installJsonParser(app, strictBodies.refuse) }

  let closing = false
  app.addHook('onRequest', async () => {
    if (closing) { throw new errors.Error('UNAVAILABLE') }
  })
  installErrorHandlers(app, errors)
  installRequestLog(app)

  let closed: Promise<void> | undefined
  return {
    app,
    async listen ({ host, port }) {
      await app.listen({ host, port })
      const addr = app.server.address() as AddressInfo
      const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
      return { url: `https://${h}:${addr.port}`, host: addr.address, port: addr.port }
    },
    setTls (next) {
      (app.server as unknown as HttpsServer).setSecureContext({ key: next.keyPem, cert: next.certPem, ca: clientCaPem, minVersion: TLS_MIN_VERSION })
    },
    async close () {
      closing = true
      closed ??= app.close()
      await closed
    }
  }
}
