import { verifyTranscriptSignature } from '../../protocols/auth/transcript.ts'
import { checkNodeCsr } from '../ca/csr-policy.ts'
import { parseCsr } from '../ca/index.ts'
import { parseCertificate } from '../pki/certificate.ts'
import { nodeIdentity } from '../pki/node-identity.ts'
import { bytesEqual } from '../pki/signature.ts'
import { verifyChain } from '../pki/verify-chain.ts'
import { pemToDerAll } from '../util/pem.ts'
import { EnrollmentError } from './errors.ts'
import { renewalTranscript } from './renewal-proof.ts'
import type { NonceStore } from './nonce-store.ts'
import type { RenewRequest } from './types.ts'
import type { MeshCa } from '../ca/index.ts'
import type { CertificationRequest } from '../ca/index.ts'
import type { Certificate } from '../pki/certificate.ts'

/**
 * Default renewal-after-expiry window, 30 days: the product's stated default. It bounds how long a
 * stolen expired certificate and its key can still mint a new one; past it, the node re-enrolls
 * with a token.
 */
export const DEFAULT_RENEWAL_WINDOW_MS = 30 * 24 * 3600_000

/** Most certificates read from a renewal's chain: leaf, issuing CA, root and spare. */
const MAX_RENEW_CHAIN = 4

export interface RenewalCheck {
  /** The CAs whose certificates may be renewed, current first (then the one being retired). */
  cas: MeshCa[]
  nonces: NonceStore
  windowMs: number
  /** The node_id policy (revoked node_ids, allow list); throws EnrollmentError. */
  checkNode(nodeId: string): Promise<void>
  /** `csrDer` is what `csrPem` decodes to (PEM or base64 DER). */
  csrDer(text: string): Uint8Array
  /** Filled in once the certificate is found in an accepted CA's records, for the event log. */
  seen?: { serial?: string, nodeId?: string }
}

/** What a renewal request proved. */
export interface RenewalGrant {
  nodeId: string
  csr: CertificationRequest
  /** The certificate being renewed. */
  old: Certificate
}

/**
 * The checks of `POST /v1/renew`, in order, cheap first: a live CA nonce (single use); an old
 * certificate this CA (or the one being retired) issued, byte for byte; a path to that CA's root
 * as of the certificate's last valid second; nothing on the path revoked in the CA's own records
 * (a CRL drops expired certificates, the records do not); expired (a valid certificate rotates at
 * `/v1/rotate`, under mutual TLS and the per-client limits), but within the window after; the
 * node_id policy; the old key's signature over the nonce and the new CSR (possession of the old
 * key); the CSR itself (self-signed by the new key, same node_id). Whether this certificate may
 * still have a successor (newest of its node_id, renewed at most once) and attestation are the
 * caller's: see `checkSuccession`.
 */
export async function checkRenewal (c: RenewalCheck, req: RenewRequest, now: Date): Promise<RenewalGrant> {
  // [REJECT] a nonce we did not hand out, spent, or expired
  if (c.nonces.take(req.nonce, now.getTime()) == null) { throw new EnrollmentError('RENEWAL_NONCE_INVALID') }
  let chain: Certificate[]
  try {
    chain = pemToDerAll(req.certificatePem, 'CERTIFICATE').slice(0, MAX_RENEW_CHAIN).map(parseCertificate)
  } catch (err) {
    throw new EnrollmentError('CLIENT_CERT_INVALID', { cause: err })
  }
  const old = chain[0]
  if (old == null) { throw new EnrollmentError('CLIENT_CERT_INVALID') }
  // [REJECT] a certificate no accepted CA issued (the record must hold these very bytes)
  let issuer: MeshCa | undefined
  for (const ca of c.cas) {
    const rec = await ca.getCertificate(old.serialHex)
    if (rec?.profile === 'node' && bytesEqual(Buffer.from(rec.der, 'base64'), old.der)) { issuer = ca; break }
  }
  if (issuer == null) { throw new EnrollmentError('CLIENT_CERT_INVALID') }
  if (c.seen != null) { c.seen.serial = old.serialHex; c.seen.nodeId = nodeIdentity(old).nodeId }
  // [REJECT] no path to that CA's root, judged as of the certificate's last valid second
  let path: Certificate[]
  try {
    const at = new Date(Math.min(now.getTime(), old.notAfter))
    path = verifyChain(at, old, [...chain.slice(1), issuer.issuingCertificate], [issuer.rootCertificate], [], {}).path
  } catch (err) {
    throw new EnrollmentError('CLIENT_CERT_INVALID', { cause: err })
  }
  // [REJECT] the certificate or a CA above it revoked (revoking an intermediate revokes all under it)
  for (const cert of path.slice(0, -1)) {
    if (await issuer.store.getRevocation(cert.serialHex) != null) { throw new EnrollmentError('CERT_REVOKED') }
  }
  // [REJECT] not expired yet: renewal is for a node that can no longer rotate
  if (now.getTime() <= old.notAfter) { throw new EnrollmentError('CERT_NOT_EXPIRED') }
  // [REJECT] expired longer ago than the window: the node must enroll again with a token
  if (now.getTime() > old.notAfter + c.windowMs) { throw new EnrollmentError('RENEWAL_WINDOW_PASSED') }
  const { nodeId } = nodeIdentity(old)
  // [REJECT] a revoked or no longer allowed node_id
  await c.checkNode(nodeId)
  const csrDer = c.csrDer(req.csrPem)
  // [REJECT] the old key did not sign the nonce and this CSR (signature last: the costly check)
  if (!verifyTranscriptSignature(old.spki, renewalTranscript(req.nonce, csrDer), req.proof)) { throw new EnrollmentError('RENEWAL_PROOF_INVALID') }
  // [REJECT] a CSR that is not self-signed by the new key, or names another node_id
  const csr = parseCsr(csrDer)
  checkNodeCsr(csr, nodeId)
  return { nodeId, csr, old }
}
