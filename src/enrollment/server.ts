import swagger from '@fastify/swagger'
import Fastify, { LogController } from 'fastify'
import { EnrollmentError } from './errors.ts'
import { clientErrorHandler, installErrorHandlers } from './http-errors.ts'
import { installJsonParser } from './json-body.ts'
import { resolveRateLimits } from './rate-buckets.ts'
import { installRateLimits } from './rate-limit.ts'
import { installRequestLog } from './request-log.ts'
import { attestationFailuresRoute } from './routes/attestation-failures.ts'
import { crlRoute } from './routes/crl.ts'
import { enrollRoute } from './routes/enroll.ts'
import { nonceRoute } from './routes/nonce.ts'
import { openapiRoute } from './routes/openapi.ts'
import { noticesRoute, renewRoute } from './routes/renew.ts'
import { revokeRoute } from './routes/revoke.ts'
import { rotateRoute } from './routes/rotate.ts'
import { SERVER_TLS_MIN_VERSION } from './server-cert.ts'
import { SERVER_DEFAULTS } from './types.ts'
import type { EnrollmentCa, EnrollmentServerConfig } from './types.ts'
import type { FastifyInstance } from 'fastify'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'

export interface EnrollmentServerOptions {
  ca: EnrollmentCa
  config: EnrollmentServerConfig
  /** The clock for every certificate, token and CRL decision. @default () => new Date() */
  now?(): Date
  /** JSON request log (see `createServiceLogger`); false for none. @default false */
  logger?: Logger | false
}

/** A running (or ready to run) enrollment service. */
export interface EnrollmentServer {
  readonly app: FastifyInstance
  /** Listens on host:port (port 0 picks a free one) and returns the base URL. */
  listen(options: { host: string, port: number }): Promise<{ url: string, host: string, port: number }>
  /** Swaps the TLS server certificate (used when the service renews its own certificate). */
  setTls(tls: { certPem: string, keyPem: string }): void
  /** Stops accepting, answers 503 to new requests, finishes those in flight, closes. Idempotent. */
  close(): Promise<void>
}

/**
 * Builds the enrollment / CA HTTPS service: fastify over `node:https` with TLS 1.3 only, the
 * client certificate requested but not required at the TLS layer (`requestCert: true,
 * rejectUnauthorized: false`) so that `/v1/enroll` and `/v1/crl` serve any client while
 * `/v1/rotate` and `/v1/revoke` check the presented chain with our own validator in a route hook.
 */
export async function createEnrollmentServer (options: EnrollmentServerOptions): Promise<EnrollmentServer> {
  const { ca, config } = options
  const now = options.now ?? (() => new Date())
  const logger = options.logger ?? false
  const app = Fastify({
    https: {
      key: config.tls.keyPem,
      cert: config.tls.certPem,
      ca: config.clientCaPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: SERVER_TLS_MIN_VERSION
    },
    ...(logger === false ? { logger: false } : { loggerInstance: logger }),
    // Our one line per request replaces fastify's two (see request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // Clients do not choose our request ids (they end up in logs).
    requestIdHeader: false,
    bodyLimit: config.bodyLimit ?? SERVER_DEFAULTS.bodyLimit,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    requestTimeout: config.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs,
    connectionTimeout: config.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs,
    return503OnClosing: false,
    clientErrorHandler,
    forceCloseConnections: 'idle',
    ajv: {
      // Fastify's defaults strip unknown fields and coerce types; an API that guards a CA refuses
      // both, so a typo or a smuggled field is a 400 rather than silently ignored.
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false }
    }
  }) as unknown as FastifyInstance

  // Only JSON bodies: a text/plain body would otherwise reach the schema as a string.
  app.removeContentTypeParser('text/plain')
  installJsonParser(app)

  let closing = false
  app.addHook('onRequest', async () => {
    if (closing) { throw new EnrollmentError('UNAVAILABLE') }
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'dadm-mesh CA and enrollment API', version: '1.0.0', description: 'Enrollment, rotation, CRL and revocation for the dadm-mesh PKI.' },
      components: {}
    }
  })
  await installRateLimits(app, resolveRateLimits(config))
  installErrorHandlers(app)
  installRequestLog(app)

  nonceRoute(app, ca, now)
  enrollRoute(app, ca, now)
  rotateRoute(app, ca, now)
  renewRoute(app, ca, now)
  noticesRoute(app, ca)
  crlRoute(app, ca, now)
  revokeRoute(app, ca, now)
  attestationFailuresRoute(app, ca, now)
  openapiRoute(app)
  await app.ready()

  let closed: Promise<void> | undefined
  return {
    app,
    async listen ({ host, port }) {
      await app.listen({ host, port })
      const addr = app.server.address() as AddressInfo
      const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
      return { url: `https://${h}:${addr.port}`, host: addr.address, port: addr.port }
    },
    setTls (tls) {
      (app.server as unknown as HttpsServer).setSecureContext({ key: tls.keyPem, cert: tls.certPem, ca: config.clientCaPem, minVersion: SERVER_TLS_MIN_VERSION })
    },
    async close () {
      closing = true
      closed ??= app.close()
      await closed
    }
  }
}
