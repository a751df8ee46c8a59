import { tlsPeerChain } from '../http/tls-peer-chain.ts'
import { EnrollmentError } from './errors.ts'
import type { ClientIdentity, EnrollmentCa } from './types.ts'
import type { FastifyRequest } from 'fastify'
import type { TLSSocket } from 'node:tls'

const CLIENT = Symbol('dadm-mesh.client')

/**
 * A route hook that admits only clients whose certificate chains to a mesh root, is inside its
 * validity window, is not revoked on the current CRL and carries `role`. Anything else is a 401
 * from the catalogue; the verified identity is kept on the request for the handler.
 */
export function requireClientCert (ca: EnrollmentCa, role: ClientIdentity['role'], now: () => Date) {
  return async function clientCertHook (request: FastifyRequest): Promise<void> {
    // The TLS layer admits any certificate, or none: the chain is untrusted input for the CA's validator.
    const chain = tlsPeerChain(request.raw.socket as TLSSocket)
    if (chain.length === 0) { throw new EnrollmentError('CLIENT_CERT_REQUIRED') }
    const identity = await ca.authenticateClient(chain, now())
    if (identity.role !== role) {
      throw new EnrollmentError('CLIENT_CERT_WRONG_ROLE')
    }(request as unknown as Record<symbol, ClientIdentity>)[CLIENT] = identity
  }
}

/** The identity `requireClientCert` proved for this request. */
export function clientIdentity (request: FastifyRequest): ClientIdentity {
  const id = (request as unknown as Record<symbol, ClientIdentity | undefined>)[CLIENT]
  if (id == null) { throw new EnrollmentError('CLIENT_CERT_REQUIRED') }
  return id
}
