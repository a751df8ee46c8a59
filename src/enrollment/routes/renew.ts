import { Type } from '@sinclair/typebox'
import { logFields } from '../../http/request-log.ts'
import { EnrollmentError } from '../errors.ts'
import { IssuedResponse, RenewNonceResponse, RenewRequest, errorResponses } from '../schemas.ts'
import { issuedBody } from './issued-body.ts'
import type { RenewRequestBody } from '../schemas.ts'
import type { EnrollmentCa } from '../types.ts'
import type { FastifyInstance } from 'fastify'

/** Most bytes a base64 field of the renewal decodes to (a nonce is 32, a P-256 signature at most 72). */
const MAX_DECODED = 256

/** Strict base64 (canonical, non-empty), or INVALID_REQUEST. */
function base64 (s: string): Uint8Array {
  const b = Buffer.from(s, 'base64')
  if (s.length === 0 || b.length > MAX_DECODED || b.toString('base64') !== s) { throw new EnrollmentError('INVALID_REQUEST') }
  return new Uint8Array(b)
}

/**
 * Renewal after a long time offline, for a node whose certificate expired, so mutual
 * TLS (`/v1/rotate`) no longer works and it holds no enrollment token:
 *
 * `GET /v1/renew/nonce` hands out a single-use nonce (5 minutes). `POST /v1/renew` takes the old
 * certificate and chain, a CSR for the new key, and the old key's signature over CBOR
 * ["dadm-mesh/renew/1", nonce, CSR DER]. The CA checks the certificate is one it issued, nothing
 * on its path is revoked, the node_id is not revoked, the expiry is within the renewal window
 * (403 RENEWAL_WINDOW_PASSED past it: enroll again), the proof, the CSR and attestation where
 * the policy requires it. Public, like `/v1/enroll`: the proof is the authentication, and the
 * rate limits bound the work.
 *
 * Renewal is for what it is for, and 409 says which rule refused it: an unexpired certificate
 * rotates at `/v1/rotate` (CERT_NOT_EXPIRED); only the newest certificate of a node_id renews
 * (CERT_SUPERSEDED, also for one a rotation replaced); a serial renews once (ALREADY_RENEWED),
 * checked and recorded in the issuance's own batch, so two concurrent renewals yield one
 * certificate. A retry with the same new key is answered with the certificate already issued.
 */
export function renewRoute (app: FastifyInstance, ca: EnrollmentCa, now: () => Date): void {
  app.get('/v1/renew/nonce', {
    schema: {
      summary: 'A single-use nonce the old identity key signs to renew an expired certificate',
      response: { 200: RenewNonceResponse, ...errorResponses(404, 429) }
    }
  }, async (_request, reply) => {
    if (ca.issueRenewNonce == null) { throw new EnrollmentError('NOT_FOUND') }
    const n = ca.issueRenewNonce(now())
    reply.header('cache-control', 'no-store')
    return { nonce: Buffer.from(n.nonce).toString('base64'), expires_at: new Date(n.expiresAt).toISOString() }
  })

  app.post('/v1/renew', {
    schema: {
      summary: 'Renew an expired node certificate by proof of possession of its key (no token)',
      body: RenewRequest,
      response: { 200: IssuedResponse, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429) }
    }
  }, async (request, reply) => {
    if (ca.renew == null) { throw new EnrollmentError('NOT_FOUND') }
    const body = request.body as RenewRequestBody
    const issued = await ca.renew({
      certificatePem: body.certificate,
      csrPem: body.csr,
      nonce: base64(body.nonce),
      proof: base64(body.proof),
      ...(body.attestation != null ? { attestation: body.attestation } : {})
    }, now())
    logFields(request, { node_id: issued.nodeId, serial: issued.serialHex })
    reply.header('cache-control', 'no-store')
    return issuedBody(issued, ca.meshConfig())
  })
}

/** `GET /v1/notices`: every unexpired CA-signed notice (trust bundles, rotate-now), base64, oldest first, for nodes that poll. */
export function noticesRoute (app: FastifyInstance, ca: EnrollmentCa & { latestNotices?(now: Date): Promise<string[]> }, now: () => Date = () => new Date()): void {
  app.get('/v1/notices', {
    schema: {
      summary: 'Every unexpired CA-signed mesh notice (base64 CBOR), oldest first; nodes verify them against their roots',
      response: { 200: Type.Object({ notices: Type.Array(Type.String()) }), ...errorResponses(429) }
    }
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-cache')
    return { notices: ca.latestNotices != null ? await ca.latestNotices(now()) : [] }
  })
}
