import { checkNodeCsr } from '../ca/csr-policy.ts'
import { normalizeSerialHex, parseCsr } from '../ca/index.ts'
import { parseCertificate } from '../pki/certificate.ts'
import { rolesOf } from '../pki/roles-extension.ts'
import { StoreError } from '../store/errors.ts'
import { attest, attestedExtension, csrDerFromText, issuedBody, previousCa, recordBody } from './ca-parts.ts'
import { toEnrollmentError } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import { checkRenewal } from './renewal.ts'
import { checkSuccession } from './succession.ts'
import type { CaParts } from './ca-parts.ts'
import type { NonceStore } from './nonce-store.ts'
import type { AttestationEvidence } from './schemas.ts'
import type { ClientIdentity, IssuedCertificate, RenewRequest } from './types.ts'
import type { IssuedCert, IssueRequest } from '../ca/index.ts'
import type { IssuedCertRecord, SupersessionVia } from '../store/ca-store.ts'

/**
 * Rotation and renewal: a node that holds (rotate) or held (renew) a certificate gets its
 * successor. Both keep the node_id, refuse a revoked one in this CA or the retired one, answer a
 * retry with the successor already issued, and pin a TPM the node attests with for the first time.
 * Both copy the roles of the certificate being replaced: roles change only by a new enrollment.
 */

export interface RotateRequest { client: ClientIdentity, csrPem: string, currentSerial: string, attestation?: AttestationEvidence }

export async function rotate (parts: CaParts, req: RotateRequest, now: Date): Promise<IssuedCertificate> {
  const { ca, devices, events } = parts
  try {
    const nodeId = req.client.nodeId
    if (req.client.role !== 'node' || nodeId == null) { throw new EnrollmentError('CLIENT_CERT_WRONG_ROLE') }
    if (normalizeSerialHex(req.currentSerial) !== normalizeSerialHex(req.client.serialHex)) { throw new EnrollmentError('SERIAL_MISMATCH') }
    const csr = parseCsr(csrDerFromText(req.csrPem))
    // The new certificate keeps the node_id: a CSR naming another one is refused.
    checkNodeCsr(csr, nodeId)
    await checkNode(parts, nodeId)
    // Only the newest certificate of the node_id rotates, once (a retry gets its answer again).
    const succession = await checkSuccession(parts.accepted.map(a => a.ca), { serialHex: req.client.serialHex, nodeId, csrSpki: csr.spki, via: 'rotate' }, now)
    if (succession.kind === 'replay') {
      events.info({ event: 'rotate-accepted', node_id: nodeId, old_serial: req.client.serialHex, serial: succession.successor.serialHex, replayed: true }, 'rotation answered again')
      return recordBody(ca, succession.successor)
    }
    const device = await attest(parts, req.attestation, nodeId, csr.spki, now)
    // A node that enrolled without a TPM and now attests gets its TPM pinned from here on.
    const pinned = device != null ? await devices.pinFirst(nodeId, device, now) : undefined
    // Issued from `now`, so it overlaps the current one (valid now by the route hook); the CA
    // clamps notAfter to the issuer's. The current certificate stays valid to its own expiry,
    // but is recorded as superseded in the same batch: it can mint nothing more.
    const issued = await issueSuccessor(parts, { csr: csr.der, now, nodeId, profile: 'node', supersedes: { serialHex: req.client.serialHex, via: 'rotate' }, roles: rolesOfRecord(succession.old), ...attestedExtension(parts, device, now) })
    if (pinned != null) { await devices.noteSerial(pinned, issued.serialHex) }
    events.info({ event: 'rotate-accepted', node_id: nodeId, old_serial: req.client.serialHex, serial: issued.serialHex }, 'rotation accepted')
    return issuedBody(ca, issued)
  } catch (err) {
    const e = toEnrollmentError(err)
    if (req.client.role === 'node') {
      events.info({ event: 'rotate-refused', code: e.code, node_id: req.client.nodeId ?? null, serial: req.client.serialHex }, 'rotation refused')
    }
    throw e
  }
}

/** The renewal proof's nonces and how long after expiry a certificate still renews. */
export interface RenewalTerms { nonces: NonceStore, windowMs: number }

/**
 * `POST /v1/renew`: a node whose certificate expired while it was offline proves possession of
 * its old key (and, by the CSR, of its new one) and gets a new certificate without a token, if
 * its node_id is not revoked, the expiry lies within the renewal window, and attestation passes
 * where the policy wants it. See `checkRenewal` for the order of checks.
 */
export async function renew (parts: CaParts, terms: RenewalTerms, req: RenewRequest, now: Date): Promise<IssuedCertificate> {
  const { ca, devices, events } = parts
  // The certificate being renewed, once found in our records (the log names nothing unproven).
  const seen: { serial?: string, nodeId?: string } = {}
  try {
    const cas = parts.accepted.map(a => a.ca)
    const grant = await checkRenewal({
      cas,
      nonces: terms.nonces,
      windowMs: terms.windowMs,
      checkNode: async (nodeId) => { await checkNode(parts, nodeId) },
      csrDer: csrDerFromText,
      seen
    }, req, now)
    // Only the newest certificate of the node_id renews, once (a retry gets its answer again).
    const succession = await checkSuccession(cas, { serialHex: grant.old.serialHex, nodeId: grant.nodeId, csrSpki: grant.csr.spki, via: 'renew' }, now)
    if (succession.kind === 'replay') {
      events.info({ event: 'renew-accepted', node_id: grant.nodeId, old_serial: grant.old.serialHex, serial: succession.successor.serialHex, replayed: true }, 'renewal answered again')
      return recordBody(ca, succession.successor)
    }
    const device = await attest(parts, req.attestation, grant.nodeId, grant.csr.spki, now)
    const pinned = device != null ? await devices.pinFirst(grant.nodeId, device, now) : undefined
    const issued = await issueSuccessor(parts, { csr: grant.csr.der, now, nodeId: grant.nodeId, profile: 'node', supersedes: { serialHex: grant.old.serialHex, via: 'renew' }, roles: rolesOfRecord(succession.old), ...attestedExtension(parts, device, now) })
    if (pinned != null) { await devices.noteSerial(pinned, issued.serialHex) }
    await ca.store.appendAudit(now.getTime(), 'renew-after-expiry', { node_id: grant.nodeId, old_serial: grant.old.serialHex, serial: issued.serialHex, expired_ms: Math.max(0, now.getTime() - grant.old.notAfter) })
    events.info({ event: 'renew-accepted', node_id: grant.nodeId, old_serial: grant.old.serialHex, serial: issued.serialHex }, 'renewal accepted')
    return issuedBody(ca, issued)
  } catch (err) {
    const e = toEnrollmentError(err)
    events.info({ event: 'renew-refused', code: e.code, node_id: seen.nodeId ?? null, serial: seen.serial ?? null }, 'renewal refused')
    throw e
  }
}

/**
 * The roles of the certificate being replaced, read from the certificate the CA signed (its own
 * record of it), not from anything the node sends.
 */
function rolesOfRecord (rec: IssuedCertRecord): string[] {
  return rolesOf(parseCertificate(Buffer.from(rec.der, 'base64')))
}

/** The node_id policy of rotate and renew: this CA's gate, and the retired CA's revoked node_ids. */
async function checkNode (parts: CaParts, nodeId: string): Promise<void> {
  await parts.gate.check(nodeId, { rotating: true })
  const previous = previousCa(parts)
  if (previous != null && await previous.isNodeRevoked(nodeId)) { throw new EnrollmentError('NODE_REVOKED') }
}

/**
 * Issues a rotation's or renewal's successor. The store refuses a second successor of one
 * serial under its write lock (ALREADY_SUPERSEDED): the loser of a race learns here what won.
 */
async function issueSuccessor (parts: CaParts, req: IssueRequest & { supersedes: { serialHex: string, via: SupersessionVia } }): Promise<IssuedCert> {
  try {
    return await parts.ca.issue(req)
  } catch (err) {
    if (!(err instanceof StoreError && err.code === 'ALREADY_SUPERSEDED')) { throw err }
    const winner = await parts.ca.store.supersededBy(req.supersedes.serialHex)
    throw new EnrollmentError(req.supersedes.via === 'renew' && winner?.via === 'renew' ? 'ALREADY_RENEWED' : 'CERT_SUPERSEDED', { cause: err })
  }
}
