import { lstat } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { HttpClientError } from '../../http/client-error.ts'
import { isNodeApiErrorCode } from './errors.ts'
import type { NodeApiErrorCode } from './errors.ts'

export type NodeSocketClientErrorCode =
  | 'SOCKET_UNAVAILABLE' // no socket, nothing answers on it, not ours, or not permitted: use the mTLS API
  | 'REFUSED' // the node answered with an error body; `serverCode` says which
  | 'BAD_RESPONSE' // not JSON, or larger than the limit
  | 'UNREACHABLE' // the node stopped answering part-way, or the deadline passed

/** Raised by the local read socket client; for REFUSED, `serverCode` is the node API's catalogue code. */
export class NodeSocketClientError extends HttpClientError<NodeSocketClientErrorCode, NodeApiErrorCode> {
  static name = 'NodeSocketClientError'
}

/** Errors of connect(2) on a Unix socket that mean "nobody we may talk to is there". */
const UNAVAILABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EACCES', 'EPERM', 'ENOTDIR'])

/**
 * One GET over NODEDIR/api.sock; returns the JSON of a 2xx. The socket must be a socket owned by
 * our own uid (root may use any): a NODEDIR with loose permissions where another user planted a
 * socket would otherwise feed us its answers. Anything short of a connected, permitted socket is
 * SOCKET_UNAVAILABLE, so the caller falls back to the mTLS API.
 */
export async function nodeSocketGet (socketPath: string, path: string, opts: { timeoutMs?: number, maxBytes?: number } = {}): Promise<unknown> {
  const maxBytes = opts.maxBytes ?? 4 * 1024 * 1024
  const timeoutMs = opts.timeoutMs ?? 10_000
  let st
  try {
    st = await lstat(socketPath)
  } catch (err) {
    throw new NodeSocketClientError('SOCKET_UNAVAILABLE', `no socket at ${socketPath}`, { cause: err })
  }
  const uid = process.getuid?.()
  if (!st.isSocket() || (uid != null && uid !== 0 && st.uid !== uid)) {
    throw new NodeSocketClientError('SOCKET_UNAVAILABLE', `${socketPath} is not a socket of this user`)
  }
  const reply = await new Promise<{ status: number, body: Buffer }>((resolve, reject) => {
    let connected = false
    const req = httpRequest({ socketPath, method: 'GET', path, headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) }, res => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > maxBytes) { req.destroy(new NodeSocketClientError('BAD_RESPONSE', `response larger than ${maxBytes} bytes`)); return }
        chunks.push(c)
      })
      res.on('error', reject)
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }) })
    })
    req.on('socket', s => { s.once('connect', () => { connected = true }) })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof NodeSocketClientError) { reject(err); return }
      if (!connected && UNAVAILABLE.has(err.code ?? '')) {
        reject(new NodeSocketClientError('SOCKET_UNAVAILABLE', `nothing we may use answers on ${socketPath}`, { cause: err }))
        return
      }
      reject(new NodeSocketClientError('UNREACHABLE', `the node did not answer on ${socketPath}: ${err.message}`, { cause: err }))
    })
    req.end()
  })
  let json: any
  try {
    json = JSON.parse(reply.body.toString('utf8'))
  } catch (err) {
    throw new NodeSocketClientError('BAD_RESPONSE', 'the node answered with something other than JSON', { cause: err })
  }
  if (reply.status < 200 || reply.status > 299) {
    const code = json?.error?.code
    throw new NodeSocketClientError('REFUSED', `the node refused: ${isNodeApiErrorCode(code) ? code : `HTTP ${reply.status}`}`, {
      status: reply.status,
      ...(isNodeApiErrorCode(code) ? { serverCode: code } : {})
    })
  }
  return json
}
