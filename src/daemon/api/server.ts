import { createMtlsServer } from '../../http/mtls-server.ts'
import { requireApiClient } from './client-auth.ts'
import { NODE_API_HTTP_ERRORS } from './errors.ts'
import { bundleRoutes } from './routes/bundles.ts'
import { gossipRoutes } from './routes/gossip.ts'
import { nodeInfoRoute } from './routes/node-info.ts'
import { peersRoute } from './routes/peers.ts'
import type { ApiTrust } from './client-auth.ts'
import type { BundleApiSource } from './routes/bundles.ts'
import type { GossipApiSource } from './routes/gossip.ts'
import type { NodeInfoBody } from './routes/node-info.ts'
import type { MtlsServer } from '../../http/mtls-server.ts'
import type { PeerTableRow } from '../../node/peer-table.ts'
import type { Logger } from 'pino'

/** What the API reads from the running node. */
export interface NodeApiSource {
  peers(): PeerTableRow[]
  info(): NodeInfoBody
  /** Anomaly gossip; absent when the node runs without gossip. */
  gossip?: GossipApiSource
  /** DTN bundles; absent when the node runs without them. */
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

/** A running (or ready to run) node API; `setTls` installs a renewed session certificate. */
export type NodeApiServer = MtlsServer

/**
 * The node admin API on the shared mutual-TLS server: the client certificate is judged by our own
 * validator in an onRequest hook on every route (404s included), so only this node and its
 * operators get past it.
 */
export async function createNodeApiServer (options: NodeApiServerOptions): Promise<NodeApiServer> {
  const now = options.now ?? (() => new Date())
  const server = createMtlsServer({
    tls: options.tls,
    clientCaPem: options.clientCaPem,
    logger: options.logger ?? false,
    bodyLimit: NODE_API_DEFAULTS.bodyLimit,
    requestTimeoutMs: NODE_API_DEFAULTS.requestTimeoutMs,
    keepAliveTimeoutMs: NODE_API_DEFAULTS.keepAliveTimeoutMs,
    forceCloseConnections: true,
    errors: NODE_API_HTTP_ERRORS
  })
  const { app } = server
  // Every answer, a 404 included, is this node's state for one client: none may be cached.
  app.addHook('onRequest', async (_request, reply) => { reply.header('cache-control', 'no-store') })
  app.addHook('onRequest', requireApiClient(options.trust, now))
  peersRoute(app, () => options.source.peers())
  nodeInfoRoute(app, () => options.source.info())
  gossipRoutes(app, options.source.gossip)
  bundleRoutes(app, options.source.bundles)
  await app.ready()
  return server
}
