import { request as httpsRequest } from 'node:https'
import { MeshError } from '../errors.ts'
import { tlsPeerChain } from '../http/tls-peer-chain.ts'
import { nodeIdentity } from '../pki/node-identity.ts'
import { verifyChain } from '../pki/verify-chain.ts'
import { isNodeApiErrorCode } from './errors.ts'
import { checkSessionCertificate } from './session-cert.ts'
import type { NodeApiErrorCode } from './errors.ts'
import type { Certificate } from '../pki/certificate.ts'
import type { TLSSocket } from 'node:tls'

export type NodeApiClientErrorCode =
  | 'UNREACHABLE' // network or TLS failure, or the deadline passed
  | 'SERVER_NOT_TRUSTED' // the server is not the expected node (session certificate, chain or PeerId)
  | 'REFUSED' // the API answered with an error body; `serverCode` says which
  | 'BAD_RESPONSE' // not JSON, or larger than the limit

export class NodeApiClientError extends MeshError<NodeApiClientErrorCode> {
  static name = 'NodeApiClientError'
  readonly serverCode?: NodeApiErrorCode
  readonly status?: number

  constructor (code: NodeApiClientErrorCode, message: string, options?: ErrorOptions & { serverCode?: NodeApiErrorCode, status?: number }) {
    super(code, message, options)
    if (options?.serverCode != null) { this.serverCode = options.serverCode }
    if (options?.status != null) { this.status = options.status }
  }
}

export interface NodeApiClientOptions {
  /** Base URL of the node API, e.g. https://127.0.0.1:7443 */
  url: string
  /** Our TLS chain and key, PEM: an API session credential or an admin certificate. */
  credential: { certPem: string, keyPem: string, passphrase?: string }
  /** The node we mean to talk to: its certificate must bind this PeerId. */
  expectedPeerId: string
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
 * session certificate is a proxy certificate), so it is checked here instead, before the answer
 * is read: a session certificate signed by a node certificate that chains to a mesh root and binds
 * `expectedPeerId`. Returns the parsed JSON of a 2xx, else throws NodeApiClientError.
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
  const reply = await new Promise<{ status: number, body: Buffer }>((resolve, reject) => {
    const req = httpsRequest(url, {
      method,
      cert: opts.credential.certPem,
      key: opts.credential.keyPem,
      ...(opts.credential.passphrase != null ? { passphrase: opts.credential.passphrase } : {}),
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      agent: false,
      headers: { accept: 'application/json', ...(body != null ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}) },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000)
    }, res => {
      try {
        checkServer(tlsPeerChain(res.socket as TLSSocket), opts, now())
      } catch (err) {
        req.destroy()
        reject(err)
        return
      }
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
  })
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

/** The server must be the expected node: session certificate -> its node certificate -> a mesh root. */
function checkServer (chain: Uint8Array[], opts: NodeApiClientOptions, now: Date): void {
  try {
    const { node, rest } = checkSessionCertificate(chain, now.getTime())
    verifyChain(now, node, [...rest, ...(opts.intermediates ?? [])], opts.roots, [], {})
    if (nodeIdentity(node).peerId !== opts.expectedPeerId) { throw new Error('the node certificate binds another PeerId') }
  } catch (err) {
    throw new NodeApiClientError('SERVER_NOT_TRUSTED', `the node API server is not the expected node: ${(err as Error).message}`, { cause: err })
  }
}
