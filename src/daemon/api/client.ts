import { request as httpRequest } from 'node:http'
import { isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { HttpClientError } from '../../http/client-error.ts'
import { tlsPeerChain } from '../../http/tls-peer-chain.ts'
import { nodeIdentity } from '../../pki/node-identity.ts'
import { checkSessionCertificate } from '../../pki/session-cert.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { isNodeApiErrorCode } from './errors.ts'
import type { NodeApiErrorCode } from './errors.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { TLSSocket } from 'node:tls'

export type NodeApiClientErrorCode =
  | 'UNREACHABLE' // network or TLS failure, or the deadline passed
  | 'SERVER_NOT_TRUSTED' // the server is not the expected node (session certificate, chain or PeerId)
  | 'REFUSED' // the API answered with an error body; `serverCode` says which
  | 'BAD_RESPONSE' // not JSON, or larger than the limit

/** Raised by the node API client; for REFUSED, `serverCode` is the API's catalogue code. */
export class NodeApiClientError extends HttpClientError<NodeApiClientErrorCode, NodeApiErrorCode> {
  static name = 'NodeApiClientError'
}

export interface NodeApiClientOptions {
  /** Base URL of the node API, e.g. https://127.0.0.1:7443 */
  url: string
  /** Our TLS chain and key, PEM: an API session credential or an admin certificate. */
  credential: { certPem: string, keyPem: string, passphrase?: string }
  /** The node we mean to talk to: its certificate must bind this PeerId. */
  expectedPeerId: string
  /** And, when given, this node_id (a valid mesh certificate of another node is not the one we mean). */
  expectedNodeId?: string
  /** Mesh roots and known CA certificates to check the server's node certificate. */
  roots: Certificate[]
  intermediates?: Certificate[]
  now?(): Date
  /** Whole exchange. @default 10000 */
  timeoutMs?: number
  /** Largest response body. @default 4 MiB (a peer table of 10,000 rows is about 3 MB) */
  maxBytes?: number
}

/**
 * One GET to a node admin API over mutual TLS. The server's chain cannot pass OpenSSL's check (a
 * session certificate is a proxy certificate), so it is checked here instead, as soon as the
 * handshake completes and before the request is sent: a session certificate signed by a node
 * certificate that chains to a mesh root and binds `expectedPeerId` (and `expectedNodeId`).
 * Returns the parsed JSON of a 2xx, else throws NodeApiClientError.
 */
export async function nodeApiGet (path: string, opts: NodeApiClientOptions): Promise<unknown> {
  return nodeApiRequest('GET', path, undefined, opts)
}

/** One POST of a JSON body to a node admin API, checked like `nodeApiGet`; returns the JSON of a 2xx. */
export async function nodeApiPost (path: string, body: unknown, opts: NodeApiClientOptions): Promise<unknown> {
  return nodeApiRequest('POST', path, Buffer.from(JSON.stringify(body)), opts)
}

async function nodeApiRequest (method: 'GET' | 'POST', path: string, body: Buffer | undefined, opts: NodeApiClientOptions): Promise<unknown> {
  const url = new URL(path, opts.url)
  if (url.protocol !== 'https:') { throw new TypeError('the node API is https only') }
  const maxBytes = opts.maxBytes ?? 4 * 1024 * 1024
  const now = opts.now ?? (() => new Date())
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 10_000)
  const socket = await connectToExpectedNode(url, opts, now(), signal)
  const reply = await new Promise<{ status: number, body: Buffer }>((resolve, reject) => {
    // The socket is already connected and checked: the request goes out on it and nowhere else.
    const req = httpRequest({
      method,
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      // No `agent` at all: with `agent: false` node builds a throwaway Agent that ignores
      // createConnection and dials a fresh plain TCP connection.
      createConnection: () => socket,
      headers: { host: url.host, accept: 'application/json', ...(body != null ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}) },
      signal
    }, res => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > maxBytes) { req.destroy(new NodeApiClientError('BAD_RESPONSE', `response larger than ${maxBytes} bytes`)); return }
        chunks.push(c)
      })
      res.on('error', reject)
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }) })
    })
    req.on('error', err => { reject(err instanceof NodeApiClientError ? err : new NodeApiClientError('UNREACHABLE', `cannot reach ${url.origin}: ${err.message}`, { cause: err })) })
    req.end(body)
  }).finally(() => { socket.destroy() })
  let json: any
  try {
    json = JSON.parse(reply.body.toString('utf8'))
  } catch (err) {
    throw new NodeApiClientError('BAD_RESPONSE', 'the node API answered with something other than JSON', { cause: err })
  }
  if (reply.status < 200 || reply.status > 299) {
    const code = json?.error?.code
    throw new NodeApiClientError('REFUSED', `the node API refused: ${isNodeApiErrorCode(code) ? code : `HTTP ${reply.status}`}`, {
      status: reply.status,
      ...(isNodeApiErrorCode(code) ? { serverCode: code } : {})
    })
  }
  return json
}

/**
 * Opens the TLS connection and judges the server's chain on `secureConnect`, before a single
 * request byte is written: whoever listens on the API port without being the expected node learns
 * neither the path nor the body (a bundle payload, a gossip value). Only our client certificate
 * goes out in the handshake, and that is public.
 */
async function connectToExpectedNode (url: URL, opts: NodeApiClientOptions, now: Date, signal: AbortSignal): Promise<TLSSocket> {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  return new Promise<TLSSocket>((resolve, reject) => {
    let settled = false
    const settle = (err?: Error): void => {
      if (settled) { return }
      settled = true
      // onError stays attached: once settled it does nothing, and it covers the moment between
      // here and the HTTP request taking the socket over.
      signal.removeEventListener('abort', onAbort)
      if (err != null) {
        socket.destroy()
        reject(err)
      } else {
        resolve(socket)
      }
    }
    const onError = (err: Error): void => { settle(new NodeApiClientError('UNREACHABLE', `cannot reach ${url.origin}: ${err.message}`, { cause: err })) }
    const onAbort = (): void => { settle(new NodeApiClientError('UNREACHABLE', `no TLS session with ${url.origin} before the deadline`)) }
    let socket: TLSSocket
    try {
      socket = tlsConnect({
        host,
        port: Number(url.port === '' ? 443 : url.port),
        ...(isIP(host) === 0 ? { servername: host } : {}),
        cert: opts.credential.certPem,
        key: opts.credential.keyPem,
        ...(opts.credential.passphrase != null ? { passphrase: opts.credential.passphrase } : {}),
        // The chain is judged by checkServer below: a session certificate is a proxy certificate
        // that OpenSSL's own check refuses.
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
        ALPNProtocols: ['http/1.1']
      })
    } catch (err) {
      // A credential OpenSSL cannot load (a wrong key passphrase) fails here, before any connection.
      reject(new NodeApiClientError('UNREACHABLE', `cannot open a TLS session to ${url.origin}: ${(err as Error).message}`, { cause: err }))
      return
    }
    socket.once('error', onError)
    signal.addEventListener('abort', onAbort)
    socket.once('secureConnect', () => {
      try {
        checkServer(tlsPeerChain(socket), opts, now)
      } catch (err) {
        settle(err as Error)
        return
      }
      settle()
    })
  })
}

/** The server must be the expected node: session certificate -> its node certificate -> a mesh root. */
function checkServer (chain: Uint8Array[], opts: NodeApiClientOptions, now: Date): void {
  try {
    const { node, rest } = checkSessionCertificate(chain, now.getTime())
    verifyChain(now, node, [...rest, ...(opts.intermediates ?? [])], opts.roots, [], {})
    const id = nodeIdentity(node)
    if (id.peerId !== opts.expectedPeerId) { throw new Error('the node certificate binds another PeerId') }
    if (opts.expectedNodeId != null && id.nodeId !== opts.expectedNodeId) { throw new Error('the node certificate names another node_id') }
  } catch (err) {
    throw new NodeApiClientError('SERVER_NOT_TRUSTED', `the node API server is not the expected node: ${(err as Error).message}`, { cause: err })
  }
}
