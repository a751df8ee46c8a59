import { isEnrollmentErrorCode } from '../../enrollment/errors.ts'
import { issueSessionCredential } from '../../pki/session-cert.ts'
import { derToPem } from '../../util/pem.ts'
import { httpsRequestPinned } from '../enroll/https-json.ts'
import { LifecycleError, REENROLL_CODES } from './errors.ts'
import type { IssuedResponseBody } from '../../enrollment/schemas.ts'
import type { X509Signer } from '../../identity/key-store.ts'

/**
 * The node's side of `/v1/rotate` and `/v1/renew`. Mutual TLS for rotation goes through an API
 * session certificate (src/pki/session-cert.ts): the identity key signs a five-minute
 * certificate for a fresh in-memory TLS key, and OpenSSL holds only that one. So a key in a
 * PKCS#11 token or a TPM rotates exactly like a software key, and never leaves its store.
 */

export interface CaEndpoint {
  /** Base URL of the enrollment service (node.json `ca_url`). */
  url: string
  /** The roots to pin for the TLS connection, PEM (the node's current trust anchors). */
  caPem: string
  /** @default 30 s */
  timeoutMs?: number
}

/** Lifetime of the session certificate that carries one rotation request. */
const ROTATE_SESSION_MS = 5 * 60_000

/** Largest answer read: a certificate, its chain and the config are a few KiB. */
const MAX_ANSWER_BYTES = 256 * 1024

/** `POST /v1/rotate` over mutual TLS with the current certificate (through a session certificate). */
export async function postRotate (ca: CaEndpoint, req: { signer: X509Signer, chain: Uint8Array[], now: Date, csrPem: string, serialHex: string, attestation?: Record<string, unknown> }): Promise<IssuedResponseBody> {
  const session = await issueSessionCredential({ signer: req.signer, nodeChain: req.chain, now: req.now, validityMs: ROTATE_SESSION_MS })
  const body = { csr: req.csrPem, current_cert_serial: req.serialHex, ...(req.attestation != null ? { attestation: req.attestation } : {}) }
  return call(ca, 'POST', '/v1/rotate', body, { clientCertPem: session.certPem, clientKeyPem: session.keyPem }) as Promise<IssuedResponseBody>
}

/** `GET /v1/renew/nonce`: the nonce the old key signs. */
export async function fetchRenewNonce (ca: CaEndpoint): Promise<Uint8Array> {
  const body = await call(ca, 'GET', '/v1/renew/nonce') as { nonce?: unknown }
  const nonce = typeof body?.nonce === 'string' ? Buffer.from(body.nonce, 'base64') : Buffer.alloc(0)
  if (nonce.length < 16 || nonce.length > 64) { throw new LifecycleError('BAD_RESPONSE', 'the renewal nonce answer holds no nonce') }
  return new Uint8Array(nonce)
}

/** `POST /v1/renew`: the old certificate and chain, the new CSR, the old key's proof. */
export async function postRenew (ca: CaEndpoint, req: { chain: Uint8Array[], csrPem: string, nonce: Uint8Array, proof: Uint8Array, attestation?: Record<string, unknown> }): Promise<IssuedResponseBody> {
  const body = {
    certificate: req.chain.map(c => derToPem(c, 'CERTIFICATE')).join(''),
    csr: req.csrPem,
    nonce: Buffer.from(req.nonce).toString('base64'),
    proof: Buffer.from(req.proof).toString('base64'),
    ...(req.attestation != null ? { attestation: req.attestation } : {})
  }
  return call(ca, 'POST', '/v1/renew', body) as Promise<IssuedResponseBody>
}

/** Most notices read from one answer: as many as the CA keeps unexpired (CaStore MAX_NOTICES_KEPT). */
const MAX_NOTICES = 64
/** Largest notices answer: MAX_NOTICES notices of a few KiB each, base64. */
const MAX_NOTICES_ANSWER_BYTES = 2 * 1024 * 1024

/** `GET /v1/notices`: every unexpired notice the CA holds, to be verified like pushed ones. */
export async function fetchNotices (ca: CaEndpoint): Promise<Uint8Array[]> {
  const body = await call(ca, 'GET', '/v1/notices', undefined, {}, MAX_NOTICES_ANSWER_BYTES) as { notices?: unknown }
  if (!Array.isArray(body?.notices)) { throw new LifecycleError('BAD_RESPONSE', 'the notices answer holds no list') }
  return body.notices.slice(0, MAX_NOTICES).filter((n): n is string => typeof n === 'string').map(n => new Uint8Array(Buffer.from(n, 'base64')))
}

async function call (ca: CaEndpoint, method: 'GET' | 'POST', path: string, body?: unknown, tls: { clientCertPem?: string, clientKeyPem?: string } = {}, maxBytes = MAX_ANSWER_BYTES): Promise<unknown> {
  if (ca.url === '') { throw new LifecycleError('NO_CA_URL', 'node.json names no CA URL') }
  const url = new URL(path, ca.url).toString()
  let reply
  try {
    reply = await httpsRequestPinned(method, url, body != null ? Buffer.from(JSON.stringify(body)) : undefined, {
      caPem: ca.caPem,
      maxBytes,
      ...(ca.timeoutMs != null ? { timeoutMs: ca.timeoutMs } : {}),
      ...tls
    })
  } catch (err) {
    throw new LifecycleError('CA_UNREACHABLE', `cannot reach ${url} with the pinned roots: ${(err as Error).message}`, { cause: err })
  }
  let json: any
  try {
    json = JSON.parse(reply.body.toString('utf8'))
  } catch {}
  if (reply.status !== 200) {
    const code: unknown = json?.error?.code
    if (!isEnrollmentErrorCode(code)) { throw new LifecycleError(reply.status >= 500 || reply.status === 429 ? 'CA_UNREACHABLE' : 'CA_REFUSED', `${method} ${path}: HTTP ${reply.status}`, { status: reply.status }) }
    // 429 and 5xx say "later", not "no".
    const kind = REENROLL_CODES.has(code) ? 'REENROLL_REQUIRED' : reply.status >= 500 || reply.status === 429 ? 'CA_UNREACHABLE' : 'CA_REFUSED'
    throw new LifecycleError(kind, `${method} ${path}: the CA answered ${code}`, { serverCode: code, status: reply.status })
  }
  return json
}
