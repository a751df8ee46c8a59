import { createServer } from 'node:http'
import { MetricsError } from './errors.ts'
import type { ReadinessReport } from './readiness.ts'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Registry } from 'prom-client'

/**
 * The operations listener of a node or CA process: plain HTTP, apart from the mesh and the
 * enrollment API, serving `GET /metrics` (Prometheus text), `GET /livez` and `GET /readyz`.
 * It reads no request body and answers nothing else. It is off unless the operator names an
 * address (`--metrics HOST:PORT`); it carries no secret (counts, codes, CRL numbers), so plain
 * HTTP on a loopback or management address is the intended use.
 */

export interface OpsServerLimits {
  /** Open connections at once (Prometheus keeps one per target; probes open a few). */
  maxConnections: number
  /** Open connections per remote address, so one client cannot take every slot. */
  maxConnectionsPerSource: number
  /** Time to receive a request's headers, ms. */
  headersTimeoutMs: number
  /** Time to receive a whole request, ms. */
  requestTimeoutMs: number
  /** Idle keep-alive, ms: above Prometheus's default 15 s scrape interval would pin sockets; below it reconnects are cheap. */
  keepAliveTimeoutMs: number
  /** Request header bytes at most (node's option; a scrape's headers are a few hundred bytes). */
  maxHeaderBytes: number
}

export const OPS_SERVER_LIMITS: OpsServerLimits = {
  maxConnections: 32,
  maxConnectionsPerSource: 4,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 8 * 1024
}

export interface OpsServerInit {
  /** The process's one registry (libp2p, gossipsub, mesh and CA metrics). */
  registry: Registry
  /** Readiness, evaluated on each `/readyz`. */
  readiness(): ReadinessReport | Promise<ReadinessReport>
  limits?: Partial<OpsServerLimits>
}

export interface OpsServer {
  /** `http://HOST:PORT`, once listening. */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/** Starts the listener on `host:port` (port 0 picks one); MetricsError LISTEN_FAILED names the address. */
export async function startOpsServer (init: OpsServerInit, listen: { host: string, port: number }): Promise<OpsServer> {
  const limits = { ...OPS_SERVER_LIMITS, ...init.limits }
  // One render at a time: scrapes that arrive while one runs share its text (rendering walks every metric).
  let rendering: Promise<string> | undefined
  const render = async (): Promise<string> => {
    rendering ??= init.registry.metrics().finally(() => { rendering = undefined })
    return rendering
  }
  const server = createServer({ maxHeaderSize: limits.maxHeaderBytes, requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.headersTimeoutMs }, (req, res) => {
    handle(req, res, init, render).catch(() => {
      if (!res.headersSent) { res.writeHead(500, { 'content-type': 'text/plain' }) }
      res.end('internal error\n')
    })
  })
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  server.maxConnections = limits.maxConnections
  limitPerSource(server, limits.maxConnectionsPerSource)
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new MetricsError('LISTEN_FAILED', `cannot listen on ${listen.host}:${listen.port} for metrics and health: ${err.code ?? err.message}`, { cause: err }))
    }
    server.once('error', onError)
    server.listen(listen.port, listen.host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === 'object' && address != null ? address.port : listen.port
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host
  return {
    url: `http://${host}:${port}`,
    port,
    close: async () => { await closeServer(server) }
  }
}

async function handle (req: IncomingMessage, res: ServerResponse, init: OpsServerInit, render: () => Promise<string>): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]
  if (path !== '/metrics' && path !== '/livez' && path !== '/readyz') {
    text(res, 404, 'not found: this listener serves /metrics, /livez and /readyz\n')
    return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD')
    text(res, 405, 'method not allowed\n')
    return
  }
  if (path === '/livez') {
    // Answering at all is the liveness signal: the event loop runs.
    text(res, 200, 'ok\n')
    return
  }
  if (path === '/readyz') {
    const report = await init.readiness()
    const body = JSON.stringify(report) + '\n'
    res.writeHead(report.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : body)
    return
  }
  const body = await render()
  res.writeHead(200, { 'content-type': init.registry.contentType, 'cache-control': 'no-store' })
  res.end(req.method === 'HEAD' ? undefined : body)
}

function text (res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' })
  res.end(body)
}

/** Closes a connection beyond `max` from one remote address as soon as it opens. */
function limitPerSource (server: Server, max: number): void {
  const open = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const key = socket.remoteAddress ?? 'unknown'
    const n = (open.get(key) ?? 0) + 1
    if (n > max) {
      socket.destroy()
      return
    }
    open.set(key, n)
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1
      if (left <= 0) { open.delete(key) } else { open.set(key, left) }
    })
  })
}

async function closeServer (server: Server): Promise<void> {
  if (!server.listening) { return }
  await new Promise<void>(resolve => {
    server.close(() => { resolve() })
    // Keep-alive sockets of a scraper would hold close() open until they idle out.
    server.closeAllConnections()
  })
}
