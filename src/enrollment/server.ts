import swagger from '@fastify/swagger'
import { createMtlsServer } from '../http/mtls-server.ts'
import { ENROLLMENT_HTTP_ERRORS } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import { resolveRateLimits } from './rate-buckets.ts'
import { installRateLimits } from './rate-limit.ts'
import { attestationFailuresRoute } from './routes/attestation-failures.ts'
import { crlRoute } from './routes/crl.ts'
import { enrollRoute } from './routes/enroll.ts'
import { nonceRoute } from './routes/nonce.ts'
import { openapiRoute } from './routes/openapi.ts'
import { noticesRoute, renewRoute } from './routes/renew.ts'
import { revokeRoute } from './routes/revoke.ts'
import { rotateRoute } from './routes/rotate.ts'
import { SERVER_DEFAULTS } from './types.ts'
import type { EnrollmentCa, EnrollmentServerConfig } from './types.ts'
import type { MtlsServer } from '../http/mtls-server.ts'
import type { Logger } from 'pino'

export interface EnrollmentServerOptions {
  ca: EnrollmentCa
  config: EnrollmentServerConfig
  /** The clock for every certificate, token and CRL decision. @default () => new Date() */
  now?(): Date
  /** JSON request log (see `createServiceLogger`); false for none. @default false */
  logger?: Logger | false
}

/** A running (or ready to run) enrollment service; `setTls` installs the service's renewed certificate. */
export type EnrollmentServer = MtlsServer

/**
 * Builds the enrollment / CA HTTPS service on the shared mutual-TLS server: `/v1/enroll` and
 * `/v1/crl` serve any client while `/v1/rotate` and `/v1/revoke` check the presented chain with
 * our own validator in a route hook. Bodies are strict, and requests in flight finish on close
 * (`forceCloseConnections: 'idle'`) so that an issuance under way is answered.
 */
export async function createEnrollmentServer (options: EnrollmentServerOptions): Promise<EnrollmentServer> {
  const { ca, config } = options
  const now = options.now ?? (() => new Date())
  const server = createMtlsServer({
    tls: config.tls,
    clientCaPem: config.clientCaPem,
    logger: options.logger ?? false,
    bodyLimit: config.bodyLimit ?? SERVER_DEFAULTS.bodyLimit,
    requestTimeoutMs: config.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs,
    forceCloseConnections: 'idle',
    errors: ENROLLMENT_HTTP_ERRORS,
    strictBodies: { refuse: why => new EnrollmentError(why) }
  })
  const { app } = server

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'dadm-mesh CA and enrollment API', version: '1.0.0', description: 'Enrollment, rotation, CRL and revocation for the dadm-mesh PKI.' },
      components: {}
    }
  })
  // Before the routes: it hooks their registration to give each its buckets.
  await installRateLimits(app, resolveRateLimits(config))

  nonceRoute(app, ca, now)
  enrollRoute(app, ca, now)
  rotateRoute(app, ca, now)
  renewRoute(app, ca, now)
  noticesRoute(app, ca, now)
  crlRoute(app, ca, now)
  revokeRoute(app, ca, now)
  attestationFailuresRoute(app, ca, now)
  openapiRoute(app)
  await app.ready()
  return server
}
