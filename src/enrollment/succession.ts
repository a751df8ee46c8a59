import { parseCertificate } from '../pki/certificate.ts'
import { bytesEqual } from '../pki/signature.ts'
import { EnrollmentError } from './errors.ts'
import type { MeshCa } from '../ca/index.ts'
import type { IssuedCertRecord, SupersessionVia } from '../store/ca-store.ts'

/** What `checkSuccession` decided for a certificate asking for a successor. */
export type Succession =
  /** No successor yet: the caller may issue one (the store re-checks atomically). */
  | { kind: 'issue', old: IssuedCertRecord }
  /** The successor exists and certifies the very key asked for: answer with it, mint nothing. */
  | { kind: 'replay', successor: IssuedCertRecord }

/**
 * Whether the node certificate `serialHex` may mint a successor by `via` (rotation or renewal).
 * Only the newest certificate of a node_id may, and only once: a certificate that already has a
 * successor is refused (ALREADY_RENEWED for a second renewal, CERT_SUPERSEDED otherwise), and so
 * is one older than another certificate of its node_id (one issued by a later enrollment).
 *
 * The one exception is a retry: a node whose answer was lost (a network cut, a crash before it
 * stored the certificate) asks again from the same old certificate with the same pending key.
 * When the successor certifies exactly that key, is still the newest, unrevoked and unexpired,
 * the answer is that successor again. The caller has proved possession of both keys by then (the
 * old by mutual TLS or the renewal proof, the new by the CSR's self-signature), so it learns
 * nothing it did not hold; without this, one lost answer would leave a node to re-enroll.
 *
 * `cas` are the accepted CAs, current first: the current CA records every new successor, the
 * retired one still knows the successions of its own time.
 */
export async function checkSuccession (cas: MeshCa[], req: { serialHex: string, nodeId: string, csrSpki: Uint8Array, via: SupersessionVia }, now: Date): Promise<Succession> {
  let old: IssuedCertRecord | undefined
  for (const ca of cas) {
    old = await ca.getCertificate(req.serialHex)
    if (old?.profile === 'node' && old.nodeId === req.nodeId) { break }
    old = undefined
  }
  // [REJECT] a certificate none of our CAs recorded (every issuance is recorded)
  if (old == null) { throw new EnrollmentError('CLIENT_CERT_INVALID') }
  for (const ca of cas) {
    const s = await ca.store.supersededBy(old.serialHex)
    if (s == null) { continue }
    const successor = await findCert(cas, s.by)
    if (successor != null && await isReplayable(cas, successor, req.csrSpki, now)) { return { kind: 'replay', successor } }
    // [REJECT] a serial that already has a successor: a renewal twice, or anything after a rotation
    throw new EnrollmentError(req.via === 'renew' && s.via === 'renew' ? 'ALREADY_RENEWED' : 'CERT_SUPERSEDED')
  }
  // [REJECT] not the newest certificate of its node_id (a later enrollment took its place)
  if (await hasNewer(cas, old)) { throw new EnrollmentError('CERT_SUPERSEDED') }
  return { kind: 'issue', old }
}

async function findCert (cas: MeshCa[], serialHex: string): Promise<IssuedCertRecord | undefined> {
  for (const ca of cas) {
    const rec = await ca.getCertificate(serialHex)
    if (rec != null) { return rec }
  }
  return undefined
}

/** A node certificate of the same node_id issued after `cert`, by any accepted CA. */
async function hasNewer (cas: MeshCa[], cert: IssuedCertRecord): Promise<boolean> {
  for (const ca of cas) {
    for (const other of await ca.certificatesOf(cert.nodeId as string)) {
      if (other.profile === 'node' && other.serialHex !== cert.serialHex && other.issuedAt > cert.issuedAt) { return true }
    }
  }
  return false
}

async function isReplayable (cas: MeshCa[], successor: IssuedCertRecord, csrSpki: Uint8Array, now: Date): Promise<boolean> {
  if (now.getTime() > successor.notAfter) { return false }
  for (const ca of cas) {
    if (await ca.store.getRevocation(successor.serialHex) != null) { return false }
    if (await ca.store.supersededBy(successor.serialHex) != null) { return false }
  }
  if (await hasNewer(cas, successor)) { return false }
  return bytesEqual(parseCertificate(Buffer.from(successor.der, 'base64')).spki, csrSpki)
}
