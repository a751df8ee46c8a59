import { logFields } from '../../http/request-log.ts'
import { clientIdentity, requireClientCert } from '../client-auth.ts'
import { EnrollmentError } from '../errors.ts'
import { AttestationFailureRequest, errorResponses } from '../schemas.ts'
import type { AttestationFailureRequestBody } from '../schemas.ts'
import type { EnrollmentCa } from '../types.ts'
import type { FastifyInstance } from 'fastify'

/**
 * `POST /v1/attestation-failures`: a node (mutual TLS with its node certificate, checked in the
 * route hook before the body is read) reports that a peer failed attestation. The reporter is the
 * client identity, never a field of the body. Rate-limited per client node_id on top of the
 * per-address limits (RATE_LIMITED). The CA's policy (ca.json `attestation`) decides whether
 * reports revoke; the answer is 204 either way, so a reporter learns nothing about the count.
 */
export function attestationFailuresRoute (app: FastifyInstance, ca: EnrollmentCa, now: () => Date): void {
  app.post('/v1/attestation-failures', {
    onRequest: requireClientCert(ca, 'node', now),
    schema: {
      summary: 'Report a peer\'s failed attestation (node mutual TLS)',
      body: AttestationFailureRequest,
      response: { 204: { type: 'null', description: 'recorded' }, ...errorResponses(400, 401, 404, 413, 415, 429) }
    }
  }, async (request, reply) => {
    const body = request.body as AttestationFailureRequestBody
    const client = clientIdentity(request)
    if (ca.reportAttestationFailure == null || client.nodeId == null) { throw new EnrollmentError('NOT_FOUND') }
    // The reporter and the reported certificate; the CA's audit log holds the rest of the report.
    logFields(request, { node_id: client.nodeId, serial: body.serial.toLowerCase() })
    await ca.reportAttestationFailure({
      reporterNodeId: client.nodeId,
      reporterSerial: client.serialHex,
      nodeId: body.node_id,
      serialHex: body.serial.toLowerCase(),
      code: body.code
    }, now())
    return reply.code(204).send()
  })
}
