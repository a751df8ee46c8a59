import { logFields } from '../../http/request-log.ts'
import { clientIdentity, requireClientCert } from '../client-auth.ts'
import { EnrollmentError } from '../errors.ts'
import { RevokeRequest, errorResponses } from '../schemas.ts'
import type { RevocationReason } from '../../pki/revocation-reasons.ts'
import type { RevokeRequestBody } from '../schemas.ts'
import type { EnrollmentCa } from '../types.ts'
import type { FastifyInstance } from 'fastify'

/**
 * `POST /v1/revoke` (seed §7.3): an administrator (mutual TLS with an admin-role certificate
 * from `dadm-mesh ca admin-cert`) revokes one serial or every certificate of a node_id. A node_id
 * the CA never issued to is refused (404 UNKNOWN_NODE_ID: most likely a typo, which would block a
 * name nobody holds and leave the intended node untouched) unless the body says `block_unknown`.
 * The CA's event log names the admin (`admin:NAME`, from the certificate). The CA
 * builds a new CRL before answering 204, so the next `GET /v1/crl` already lists it.
 */
export function revokeRoute (app: FastifyInstance, ca: EnrollmentCa, now: () => Date): void {
  app.post('/v1/revoke', {
    onRequest: requireClientCert(ca, 'admin', now),
    schema: {
      summary: 'Revoke a certificate by serial, or every certificate of a node_id (admin mutual TLS)',
      body: RevokeRequest,
      response: { 204: { type: 'null', description: 'revoked; the new CRL is already served' }, ...errorResponses(400, 401, 404, 413, 415, 429) }
    }
  }, async (request, reply) => {
    const body = request.body as RevokeRequestBody
    if ((body.serial == null) === (body.node_id == null)) { throw new EnrollmentError('INVALID_REVOKE_TARGET') }
    const admin = clientIdentity(request)
    const result = await ca.revoke({
      ...(body.serial != null ? { serialHex: body.serial.toLowerCase() } : {}),
      ...(body.node_id != null ? { nodeId: body.node_id } : {}),
      ...(body.reason != null ? { reason: body.reason as RevocationReason } : {}),
      ...(body.block_unknown === true ? { blockUnknown: true } : {}),
      by: `admin:${admin.subject}`
    }, now())
    logFields(request, { admin: admin.subject, ...(body.node_id != null ? { node_id: body.node_id } : {}), serial: result.serials.join(',') })
    return reply.code(204).send()
  })
}
