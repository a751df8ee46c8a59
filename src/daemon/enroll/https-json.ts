import { request as httpsRequest } from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'

/** What one HTTPS exchange returned. */
export interface HttpsReply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface HttpsOptions {
  /** The only trust anchors: the mesh root(s) given by the operator. The system store is not used. */
  caPem: string
  /** Client certificate chain and key, PEM, for mutual TLS (rotation). */
  clientCertPem?: string
  clientKeyPem?: string
  /** Passphrase of an encrypted client key (as `ca admin-cert` writes it). */
  clientKeyPassphrase?: string
  /** Deadline for the whole exchange. @default 30000 */
  timeoutMs?: number
  /** Largest response body read. @default 1 MiB (a certificate, its chain and config are a few KiB) */
  maxBytes?: number
  headers?: Record<string, string>
  /** Aborts the exchange early (a poller that stops); the deadline applies regardless. */
  signal?: AbortSignal
}

/**
 * One HTTPS request that trusts only `caPem` (air-gapped enrollment: no system roots, no proxy,
 * no redirect is followed), with a deadline and a bound on the response size.
 */
export async function httpsRequestPinned (method: 'GET' | 'POST', url: string, body: Buffer | undefined, options: HttpsOptions): Promise<HttpsReply> {
  const u = new URL(url)
  if (u.protocol !== 'https:') { throw new TypeError(`only https:// URLs are accepted, not ${u.protocol}`) }
  const timeoutMs = options.timeoutMs ?? 30_000
  const maxBytes = options.maxBytes ?? 1024 * 1024
  return new Promise((resolve, reject) => {
    const req = httpsRequest(u, {
      method,
      ca: options.caPem,
      ...(options.clientCertPem != null ? { cert: options.clientCertPem, key: options.clientKeyPem, passphrase: options.clientKeyPassphrase } : {}),
      minVersion: 'TLSv1.3',
      // A fresh agent per call: no connection or TLS session shared with other trust settings.
      agent: false,
      headers: {
        accept: 'application/json',
        ...(body != null ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
        ...options.headers
      },
      signal: options.signal != null ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs)
    }, res => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > maxBytes) { req.destroy(new Error(`response larger than ${maxBytes} bytes`)); return }
        chunks.push(c)
      })
      res.on('error', reject)
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}
