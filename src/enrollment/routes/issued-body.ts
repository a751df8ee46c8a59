import type { IssuedResponseBody, MeshConfigBody } from '../schemas.ts'
import type { IssuedCertificate } from '../types.ts'

/** The JSON body for a freshly issued certificate (enroll and rotate answer alike). */
export function issuedBody (issued: IssuedCertificate, config: MeshConfigBody): IssuedResponseBody {
  return {
    certificate: issued.certificatePem,
    ca_cert: issued.caCertPem,
    chain: issued.chainPem,
    config,
    node_id: issued.nodeId,
    serial: issued.serialHex,
    valid_not_before: new Date(issued.notBefore).toISOString(),
    valid_not_after: new Date(issued.notAfter).toISOString()
  }
}
