import { EnrollmentError } from './errors.ts'
import type { ClientIdentity, EnrollmentCa } from './types.ts'
import type { FastifyRequest } from 'fastify'
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls'

/**
 * Longest client chain we read off the socket. The mesh has root, optional intermediate and leaf;
 * 8 leaves room for CA rotation without letting a client make us walk a long list.
 */
export const MAX_CLIENT_CHAIN = 8

const CLIENT = Symbol('dadm-mesh.client')

/**
 * The certificates the client presented, leaf first, as DER. The TLS layer runs with
 * `requestCert: true, rejectUnauthorized: false`, so the handshake succeeds with any certificate
 * (or none) and this list is untrusted input: the route hook checks it with our own validator.
 */
export function presentedChain (request: FastifyRequest): Uint8Array[] {
  const socket = request.raw.socket as TLSSocket
  if (typeof socket.getPeerCertificate !== 'function') { return [] }
  const first = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined
  if (first?.raw == null || first.raw.length === 0) { return [] }
  const out: Uint8Array[] = []
  const seen = new Set<string>()
  let cur: DetailedPeerCertificate | undefined = first
  while (cur?.raw != null && out.length < MAX_CLIENT_CHAIN) {
    const fp = cur.fingerprint256
    // Node links a self-signed certificate to itself; stop at the first repeat.
    if (seen.has(fp)) { break }
    seen.add(fp)
    out.push(new Uint8Array(cur.raw))
    cur = cur.issuerCertificate
  }
  return out
}

/**
 * A route hook that admits only clients whose certificate chains to a mesh root, is inside its
 * validity window, is not revoked on the current CRL and carries `role`. Anything else is a 401
 * from the catalogue; the verified identity is kept on the request for the handler.
 */
export function requireClientCert (ca: EnrollmentCa, role: ClientIdentity['role'], now: () => Date) {
  return async function clientCertHook (request: FastifyRequest): Promise<void> {
    const chain = presentedChain(request)
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
