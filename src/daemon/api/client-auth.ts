import { ADMIN_URI_PREFIX } from '../../ca/csr-policy.ts'
import { tlsPeerChain } from '../../http/tls-peer-chain.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { nodeIdentity } from '../../pki/node-identity.ts'
import { checkSessionCertificate, isSessionCertificate } from '../../pki/session-cert.ts'
import { bytesEqual } from '../../pki/signature.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { EKU } from '../../pki/x509-extensions.ts'
import { NodeApiError } from './errors.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { Crl } from '../../pki/crl.ts'
import type { FastifyRequest } from 'fastify'
import type { TLSSocket } from 'node:tls'

/** Who a verified API client is: this node itself (its node_id, PeerId and key), or an operator with an admin certificate. */
export interface ApiClient {
  role: 'self' | 'admin'
  /** node_id for `self`, the admin name for `admin`. */
  subject: string
  serialHex: string
}

/**
 * Who "this node" is, beyond its node_id: its libp2p PeerId and the identity keys it holds (the
 * current one, and one rotated out while its certificate still runs). Read on every request, so
 * a rotation counts at once.
 */
export interface ApiSelf {
  peerId: string
  /** SubjectPublicKeyInfo DER of each identity key the node holds. */
  keys: Uint8Array[]
}

/** The trust the API checks clients against; read on every request, so a new CRL counts at once. */
export interface ApiTrust {
  /** This node's node_id: the only node certificate admitted. */
  nodeId: string
  /** This node's PeerId and keys: a certificate for its node_id with another key or PeerId is not this node. */
  self(): ApiSelf
  roots(): Certificate[]
  /** Known CA certificates (the issuing chain) to complete clients' paths. */
  intermediates(): Certificate[]
  /** The node's current CRLs. */
  crls(): Crl[]
}

/**
 * Verifies a presented client chain (leaf first) with our own validator, never OpenSSL's: an admin
 * certificate (`urn:dadm:admin:<name>`, clientAuth) chaining to a mesh root, or this node's own
 * certificate, directly or through an API session certificate it signed. Not revoked on the
 * node's current CRLs. Anything else is a 401 from the catalogue.
 */
export function authenticateApiClient (trust: ApiTrust, chain: Uint8Array[], now: Date): ApiClient {
  if (chain.length === 0) { throw new NodeApiError('CLIENT_CERT_REQUIRED') }
  let leaf: Certificate
  let rest: Uint8Array[]
  try {
    leaf = parseCertificate(chain[0])
    rest = chain.slice(1)
    if (isSessionCertificate(leaf)) {
      const s = checkSessionCertificate(chain, now.getTime())
      leaf = s.node
      rest = s.rest
    }
  } catch (err) {
    throw new NodeApiError('CLIENT_CERT_INVALID', { cause: err })
  }
  const uris = leaf.subjectAltName?.uri ?? []
  const admin = uris.filter(u => u.startsWith(ADMIN_URI_PREFIX))
  const intermediates = [...rest, ...trust.intermediates()]
  try {
    if (admin.length > 0) {
      if (admin.length !== 1 || uris.length !== 1) { throw new NodeApiError('CLIENT_CERT_INVALID') }
      verifyChain(now, leaf, intermediates, trust.roots(), trust.crls(), { requiredEku: [EKU.CLIENT_AUTH] })
      return { role: 'admin', subject: admin[0].slice(ADMIN_URI_PREFIX.length), serialHex: leaf.serialHex }
    }
    verifyChain(now, leaf, intermediates, trust.roots(), trust.crls(), {})
  } catch (err) {
    if (err instanceof NodeApiError) { throw err }
    throw new NodeApiError('CLIENT_CERT_INVALID', { cause: err })
  }
  // A valid mesh member, but another node: the API serves only its own node and operators.
  const { nodeId, peerId } = nodeIdentity(leaf)
  if (nodeId !== trust.nodeId) { throw new NodeApiError('CLIENT_CERT_WRONG_ROLE') }
  // The node_id alone proves nothing: a second certificate for it (a squatter's, or a superseded
  // holder's) carries another key and PeerId, and is not this node.
  const self = trust.self()
  if (peerId !== self.peerId || !self.keys.some(k => bytesEqual(k, leaf.spki))) { throw new NodeApiError('CLIENT_CERT_WRONG_ROLE') }
  return { role: 'self', subject: nodeId, serialHex: leaf.serialHex }
}

const CLIENT = Symbol('dadm-mesh.api-client')

/** An onRequest hook that admits only clients `authenticateApiClient` accepts. */
export function requireApiClient (trust: ApiTrust, now: () => Date) {
  return async function apiClientHook (request: FastifyRequest): Promise<void> {
    const client = authenticateApiClient(trust, tlsPeerChain(request.raw.socket as TLSSocket), now());
    (request as unknown as Record<symbol, ApiClient>)[CLIENT] = client
  }
}

/** The client `requireApiClient` proved for this request. */
export function apiClientOf (request: FastifyRequest): ApiClient {
  const client = (request as unknown as Record<symbol, ApiClient | undefined>)[CLIENT]
  if (client == null) { throw new NodeApiError('CLIENT_CERT_REQUIRED') }
  return client
}
