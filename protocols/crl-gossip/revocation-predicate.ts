import type { Certificate } from '../../src/pki/certificate.ts'
import type { Crl } from '../../src/pki/crl.ts'

/**
 * Turns an installed CRL into the predicate the node's enforcement point takes
 * (`MeshNode.applyRevocation(predicate, { source })`, src/node). Revocation is by issuer +
 * serial: a peer is revoked when its leaf's issuer is a CA certificate with the CRL's issuer name
 * and the CRL lists its serial. A CRL is complete, so the predicate of the newest CRL of an issuer
 * replaces the previous one: use `source: crlSource(crl)`.
 */
export function crlRevocationPredicate (crl: Crl, caCertificates: Certificate[]): (peer: { serialHex: string, issuerFingerprint: string }) => boolean {
  // Every known CA certificate of that name (the same CA re-issued, cross-signed or rolled over).
  const issuers = new Set(caCertificates.filter(c => c.subject.key === crl.issuer.key).map(c => c.fingerprint))
  const revoked = new Set(crl.revoked.keys())
  return (peer) => issuers.has(peer.issuerFingerprint) && revoked.has(peer.serialHex)
}

/** The revocation-state source name for a CRL's issuer: one predicate per issuing CA. */
export function crlSource (crl: Crl): string {
  return `crl:${crl.issuer.key}`
}
