import Fastify from 'fastify'
import { catalogueClientErrorHandler, installErrorHandlers } from '../../http/error-handler.ts'
import { clearStaleSocket, listenPrivateSocket, MAX_SOCKET_PATH } from '../../http/unix-socket.ts'
import { NODE_API_HTTP_ERRORS, NodeApiError } from './errors.ts'
import { nodeApiSocketPath } from './local-socket-path.ts'
import { bundleRoutes } from './routes/bundles.ts'
import { gossipRoutes } from './routes/gossip.ts'
import { nodeInfoRoute } from './routes/node-info.ts'
import { peersRoute } from './routes/peers.ts'
import { NODE_API_DEFAULTS } from './server.ts'
import type { BundleApiSource } from './routes/bundles.ts'
import type { GossipApiSource } from './routes/gossip.ts'
import type { NodeApiSource } from './server.ts'
import type { FastifyInstance } from 'fastify'

export { NODE_API_SOCKET_NAME, nodeApiSocketPath } from './local-socket-path.ts'

/**
 * The node's local read socket, NODEDIR/api.sock (mode 0600 in the 0700 NODEDIR): the running
 * node answers the read-only queries of the CLI (`node peers`, `gossip list`, `bundle list`,
 * `bundle get`, `GET /v1/node`) without mutual TLS. Over TLS a command must prove it is the node,
 * which means decrypting the identity key (scrypt, about a second) at every call; a same-uid
 * process can read NODEDIR (the store, the run file, the key file) anyway, so the socket gives it
 * nothing it could not already read, and its permissions keep every other uid out.
 * Nothing that acts as the node (publishing gossip, sending a bundle) is served here: those
 * still need the identity key, over the mTLS API. Same routes and schemas as that API.
 */

/**
 * Limits: GETs only, so the body limit is small; one operator's commands need few connections,
 * and a stuck client holds one for at most the request deadline.
 */
export const NODE_SOCKET_DEFAULTS = {
  bodyLimit: 1024,
  requestTimeoutMs: NODE_API_DEFAULTS.requestTimeoutMs,
  keepAliveTimeoutMs: NODE_API_DEFAULTS.keepAliveTimeoutMs,
  maxConnections: 16
} as const

/** Why the socket could not be opened; the node runs on without it (the CLI falls back to mTLS). */
export type NodeSocketSkip = 'PATH_TOO_LONG'

/** A listening read socket. */
export interface NodeApiSocket {
  readonly path: string
  close(): Promise<void>
}

/** The read half of a gossip source: publishing is never served on the socket. */
function readGossip (g: GossipApiSource | undefined): GossipApiSource | undefined {
  if (g == null) { return undefined }
  return {
    async publish () { throw new NodeApiError('NOT_FOUND') },
    list: async q => g.list(q),
    // A re-check of a stored envelope reads the store and verifies; it signs and sends nothing.
    ...(g.verify != null ? { verify: async (id: string) => g.verify!(id) } : {}),
    ...(g.equivocations != null ? { equivocations: () => g.equivocations!() } : {})
  }
}

/** The read half of a bundle source: sending is never served on the socket. */
function readBundles (b: BundleApiSource | undefined): BundleApiSource | undefined {
  if (b == null) { return undefined }
  return {
    async send () { throw new NodeApiError('NOT_FOUND') },
    list: async limit => b.list(limit),
    get: async id => b.get(id)
  }
}

/** The socket's app (not yet listening): the mTLS API's routes, GET only, no client certificate. */
export async function createNodeSocketApp (source: NodeApiSource): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    requestIdHeader: false,
    bodyLimit: NODE_SOCKET_DEFAULTS.bodyLimit,
    requestTimeout: NODE_SOCKET_DEFAULTS.requestTimeoutMs,
    connectionTimeout: NODE_SOCKET_DEFAULTS.requestTimeoutMs,
    keepAliveTimeout: NODE_SOCKET_DEFAULTS.keepAliveTimeoutMs,
    forceCloseConnections: true,
    clientErrorHandler: catalogueClientErrorHandler(NODE_API_HTTP_ERRORS.catalogue)
  }) as unknown as FastifyInstance
  installErrorHandlers(app, NODE_API_HTTP_ERRORS)
  app.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store')
    // Refused before any body is read: whatever acts as the node goes over mTLS.
    if (request.method !== 'GET' && request.method !== 'HEAD') { throw new NodeApiError('NOT_FOUND') }
  })
  peersRoute(app, () => source.peers())
  nodeInfoRoute(app, () => source.info())
  gossipRoutes(app, readGossip(source.gossip))
  bundleRoutes(app, readBundles(source.bundles))
  await app.ready()
  app.server.maxConnections = NODE_SOCKET_DEFAULTS.maxConnections
  return app
}

/**
 * Opens NODEDIR/api.sock. A socket left by a crashed node (nothing answers) is removed, like a
 * stale run.json; one that answers means another process runs this node (ALREADY_RUNNING, thrown
 * by the caller through `refuse`); a file of that name that is not a socket is never removed.
 * A NODEDIR path too long for a Unix socket gives `{ skipped }`: the node runs without it.
 */
export async function startNodeApiSocket (options: { dir: string, source: NodeApiSource, refuse(state: 'in-use' | 'not-a-socket', path: string): Error }): Promise<NodeApiSocket | { skipped: NodeSocketSkip, path: string }> {
  const path = nodeApiSocketPath(options.dir)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) { return { skipped: 'PATH_TOO_LONG', path } }
  const state = await clearStaleSocket(path)
  if (state !== 'free') { throw options.refuse(state, path) }
  const app = await createNodeSocketApp(options.source)
  return listenPrivateSocket(app, path)
}
