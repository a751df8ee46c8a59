import Fastify, { LogController } from 'fastify'
import { installRequestLog } from '../enrollment/request-log.ts'
import { requireApiClient } from './client-auth.ts'
import { NodeApiError } from './errors.ts'
import { apiClientErrorHandler, installApiErrorHandlers } from './http-errors.ts'
import { bundleRoutes } from './routes/bundles.ts'
import { gossipRoutes } from './routes/gossip.ts'
import { nodeInfoRoute } from './routes/node-info.ts'
import { peersRoute } from './routes/peers.ts'
import type { ApiTrust } from './client-auth.ts'
import type { BundleApiSource } from './routes/bundles.ts'
import type { GossipApiSource } from './routes/gossip.ts'
import type { NodeInfoBody } from './routes/node-info.ts'
import type { PeerTableRow } from '../node/peer-table.ts'
import type { FastifyInstance } from 'fastify'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'

/** What the API reads from the running node. */
export interface NodeApiSource {
  peers(): PeerTableRow[]
  info(): NodeInfoBody
  /** Anomaly gossip (issue 5); absent when the node runs without gossip. */
  gossip?: GossipApiSource
  /** DTN bundles (issue 7); absent when the node runs without them. */
  bundles?: BundleApiSource
}

export interface NodeApiServerOptions {
  /** Server TLS chain and key, PEM (an API session credential, see session-cert.ts). */
  tls: { certPem: string, keyPem: string }
  /** Roots named in the TLS CertificateRequest; the route hook does the real check. */
  clientCaPem: string
  trust: ApiTrust
  source: NodeApiSource
  /** @default () => new Date() */
  now?(): Date
  /** JSON request log; false for none. @default false */
  logger?: Logger | false
}

/**
 * Limits. The one body is `POST /v1/mesh/gossip`: at most a 64-character type, a 1 KiB value and
 * 16 metadata entries of 256 characters, about 6 KiB as JSON; 16 KiB leaves room for escaping.
 * 10 s bounds a slow client.
 */
export const NODE_API_DEFAULTS = {
  bodyLimit: 16 * 1024,
  requestTimeoutMs: 10_000,
  /** Idle keep-alive sockets are closed after this. */
  keepAliveTimeoutMs: 5_000
} as const

export interface NodeApiServer {
  readonly app: FastifyInstance
  listen(options: { host: string, port: number }): Promise<{ url: string, host: string, port: number }>
  /** Swaps the TLS credential (a renewed session certificate). */
  setTls(tls: { certPem: string, keyPem: string }): void
  /** Stops accepting, answers 503 to new requests, closes. Idempotent. */
  close(): Promise<void>
}

/**
 * The node admin API: fastify over `node:https`, TLS 1.3 only, the client certificate requested
 * but judged by our own validator in an onRequest hook on every route (404s included), so a
 * client without a certificate, or with a foreign one, gets a catalogue 401 rather than a TLS
 * alert it cannot read.
 */
export async function createNodeApiServer (options: NodeApiServerOptions): Promise<NodeApiServer> {
  const now = options.now ?? (() => new Date())
  const logger = options.logger ?? false
  const app = Fastify({
    https: {
      key: options.tls.keyPem,
      cert: options.tls.certPem,
      ca: options.clientCaPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3'
    },
    ...(logger === false ? { logger: false } : { loggerInstance: logger }),
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    bodyLimit: NODE_API_DEFAULTS.bodyLimit,
    requestTimeout: NODE_API_DEFAULTS.requestTimeoutMs,
    connectionTimeout: NODE_API_DEFAULTS.requestTimeoutMs,
    keepAliveTimeout: NODE_API_DEFAULTS.keepAliveTimeoutMs,
    return503OnClosing: false,
    clientErrorHandler: apiClientErrorHandler,
    forceCloseConnections: true
  }) as unknown as FastifyInstance

  let closing = false
  app.addHook('onRequest', async () => {
    if (closing) { throw new NodeApiError('UNAVAILABLE') }
  })
  app.addHook('onRequest', requireApiClient(options.trust, now))
  installApiErrorHandlers(app)
  installRequestLog(app)
  peersRoute(app, () => options.source.peers())
  nodeInfoRoute(app, () => options.source.info())
  gossipRoutes(app, options.source.gossip)
  bundleRoutes(app, options.source.bundles)
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
      (app.server as unknown as HttpsServer).setSecureContext({ key: tls.keyPem, cert: tls.certPem, ca: options.clientCaPem, minVersion: 'TLSv1.3' })
    },
    async close () {
      closing = true
      closed ??= app.close()
      await closed
    }
  }
}
