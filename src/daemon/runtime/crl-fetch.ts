import { MeshError } from '../../errors.ts'
import { MAX_CRL_BYTES } from '../../pki/crl.ts'
import { pemToDer } from '../../util/pem.ts'
import { httpsRequestPinned } from '../enroll/https-json.ts'

export type CrlFetchErrorCode =
  | 'UNREACHABLE' // network, TLS (the server does not chain to the mesh root) or deadline
  | 'HTTP_STATUS' // an answer other than 200 or 304
  | 'BAD_BODY' // an empty body, or PEM that does not hold a CRL

export class CrlFetchError extends MeshError<CrlFetchErrorCode> {
  static name = 'CrlFetchError'
  readonly status?: number

  constructor (code: CrlFetchErrorCode, message: string, options?: ErrorOptions & { status?: number }) {
    super(code, message, options)
    if (options?.status != null) { this.status = options.status }
  }
}

export interface CrlFetchOptions {
  /** The mesh root(s), PEM: the only trust anchors for the TLS connection. */
  caPem: string
  /** The ETag of the CRL we hold from this URL: a match answers 304 with no body. */
  etag?: string
  /** Whole exchange, ms. */
  timeoutMs: number
  /** Largest body read. */
  maxBytes: number
  signal?: AbortSignal
}

export type CrlFetchResult =
  | { status: 'not-modified' }
  | { status: 'fetched', der: Uint8Array, etag?: string }

/** Largest ETag kept: the CA's are 24 characters; a longer one is not stored or sent back. */
const MAX_ETAG_CHARS = 256

/**
 * `GET {url}` for the CA's CRL over HTTPS pinned to the mesh root, conditional on the ETag we
 * hold, with a deadline and a bound on the body. The bytes are not trusted here: the caller
 * verifies the CA signature and the CRL number before it uses them.
 */
export async function fetchCrl (url: string, opts: CrlFetchOptions): Promise<CrlFetchResult> {
  let reply
  try {
    reply = await httpsRequestPinned('GET', url, undefined, {
      caPem: opts.caPem,
      timeoutMs: opts.timeoutMs,
      maxBytes: Math.min(opts.maxBytes, MAX_CRL_BYTES),
      headers: { accept: 'application/pkix-crl', ...(opts.etag != null ? { 'if-none-match': opts.etag } : {}) },
      ...(opts.signal != null ? { signal: opts.signal } : {})
    })
  } catch (err) {
    throw new CrlFetchError('UNREACHABLE', `cannot fetch ${url}: ${(err as Error).message}`, { cause: err })
  }
  if (reply.status === 304) { return { status: 'not-modified' } }
  if (reply.status !== 200) { throw new CrlFetchError('HTTP_STATUS', `${url} answered HTTP ${reply.status}`, { status: reply.status }) }
  if (reply.body.length === 0) { throw new CrlFetchError('BAD_BODY', `${url} answered an empty body`) }
  let der: Uint8Array = new Uint8Array(reply.body)
  // A server that ignores Accept may send PEM; take it, the signature check is the same.
  if (reply.body.subarray(0, 10).toString('latin1') === '-----BEGIN') {
    try {
      der = pemToDer(reply.body.toString('utf8'), 'X509 CRL')
    } catch (err) {
      throw new CrlFetchError('BAD_BODY', `${url} answered PEM that is not one CRL`, { cause: err })
    }
  }
  const etag = reply.headers.etag
  return { status: 'fetched', der, ...(typeof etag === 'string' && etag.length <= MAX_ETAG_CHARS ? { etag } : {}) }
}
