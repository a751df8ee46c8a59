import { logFields } from '../../http/request-log.ts'
import { clientIdentity, requireClientCert } from '../client-auth.ts'
import { IssuedResponse, RotateRequest, errorResponses } from '../schemas.ts'
import { issuedBody } from './issued-body.ts'
import type { RotateRequestBody } from '../schemas.ts'
import type { EnrollmentCa } from '../types.ts'
import type { FastifyInstance } from 'fastify'

/**
 * `POST /v1/rotate` (seed §7.2): a node holding a valid, unrevoked mesh certificate (proved by
 * mutual TLS, checked in the route hook) gets a new one for the same node_id. The old one is left
 * alone: it stays valid until its own expiry unless revoked, so links never drop. But it is
 * recorded as superseded in the same batch: it rotates or renews no more (409 CERT_SUPERSEDED),
 * except that a retry with the same new key gets the certificate already issued.
 */
export function rotateRoute (app: FastifyInstance, ca: EnrollmentCa, now: () => Date): void {
  app.post('/v1/rotate', {
    // onRequest: refuse unauthenticated clients before their body is even read.
    onRequest: requireClientCert(ca, 'node', now),
    schema: {
      summary: 'Rotate a node certificate (mutual TLS with the current certificate)',
      body: RotateRequest,
      response: { 200: IssuedResponse, ...errorResponses(400, 401, 403, 409, 413, 415, 429) }
    }
  }, async (request, reply) => {
    const body = request.body as RotateRequestBody
    const client = clientIdentity(request)
    logFields(request, { node_id: client.nodeId })
    const issued = await ca.rotate({
      client,
      csrPem: body.csr,
      currentSerial: body.current_cert_serial,
      ...(body.attestation != null ? { attestation: body.attestation } : {})
    }, now())
    logFields(request, { serial: issued.serialHex })
    reply.header('cache-control', 'no-store')
    return issuedBody(issued, ca.meshConfig())
  })
}
