import { logFields } from '../../http/request-log.ts'
import { EnrollRequest, IssuedResponse, errorResponses } from '../schemas.ts'
import { issuedBody } from './issued-body.ts'
import type { EnrollRequestBody } from '../schemas.ts'
import type { EnrollmentCa } from '../types.ts'
import type { FastifyInstance } from 'fastify'

/** `POST /v1/enroll` (seed §7.1): token + CSR (+ attestation) in, certificate + chain + config out. */
export function enrollRoute (app: FastifyInstance, ca: EnrollmentCa, now: () => Date): void {
  app.post('/v1/enroll', {
    schema: {
      summary: 'Enroll a node with a one-time token and a CSR',
      body: EnrollRequest,
      response: { 200: IssuedResponse, ...errorResponses(400, 401, 403, 409, 413, 415, 429) }
    }
  }, async (request, reply) => {
    const body = request.body as EnrollRequestBody
    const issued = await ca.enroll({
      token: body.token,
      csrPem: body.csr,
      ...(body.node_id != null ? { nodeId: body.node_id } : {}),
      ...(body.attestation != null ? { attestation: body.attestation } : {})
    }, now())
    logFields(request, { node_id: issued.nodeId, serial: issued.serialHex })
    reply.header('cache-control', 'no-store')
    return issuedBody(issued, ca.meshConfig())
  })
}
