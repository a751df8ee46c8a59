import { createHash } from 'node:crypto'
import { isValidNodeId } from '../pki/node-identity.ts'
import { previousCa } from './ca-parts.ts'
import { toEnrollmentError } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import type { CaParts, CrlEvent } from './ca-parts.ts'
import type { CrlSnapshot, RevokeRequest } from './types.ts'

/** Hands a fresh CRL to every revocation listener; a listener that throws does not stop the others. */
function notifyCrl (parts: CaParts, crl: CrlEvent): void {
  for (const listener of parts.revocationListeners) {
    try { listener({ der: crl.der, crlNumber: crl.crlNumber }) } catch {}
  }
}

/**
 * Revokes one serial, or every certificate of a node_id and blocks it. A node_id neither this
 * CA nor the retired one ever issued to is refused (UNKNOWN_NODE_ID) unless `blockUnknown`.
 * `by` names who asked, for the event log: an admin certificate's name, or the local operator.
 */
export async function revoke (parts: CaParts, req: RevokeRequest, now: Date): Promise<{ serials: string[] }> {
  const { ca, events } = parts
  try {
    if ((req.serialHex == null) === (req.nodeId == null)) { throw new EnrollmentError('INVALID_REVOKE_TARGET') }
    const reason = req.reason ?? 'unspecified'
    const by = req.by ?? 'local-admin-socket'
    let result: { serials: string[] }
    if (req.serialHex != null) {
      const r = await ca.revoke({ serialHex: req.serialHex, now, reason, by })
      result = { serials: r.serials }
      events.info({ event: 'revoked', serials: r.serials, node_id: r.nodeId ?? null, reason, by }, 'certificate revoked')
    } else {
      const nodeId = req.nodeId as string
      const previous = previousCa(parts)
      const knownToRetired = isValidNodeId(nodeId) && previous != null && (await previous.certificatesOf(nodeId)).length > 0
      result = await ca.revokeNodeId({ nodeId, now, reason, by, blockUnknown: req.blockUnknown === true || knownToRetired })
      parts.gate.noteRevoked(nodeId)
      events.info({ event: 'revoked', serials: result.serials, node_id: nodeId, reason, by }, 'node_id revoked and blocked')
    }
    // A new CRL at once, so the next GET /v1/crl (and gossip) carries the revocation.
    notifyCrl(parts, await ca.buildCrl(now))
    return result
  } catch (err) {
    throw toEnrollmentError(err)
  }
}

/**
 * Builds a new CRL and hands it to the revocation listeners (the mesh publisher pushes and
 * gossips it; GET /v1/crl serves it). A failure here leaves the revocation stored: the next
 * GET /v1/crl rebuilds the CRL from it.
 */
export async function publishCrl (parts: CaParts, now: Date): Promise<void> {
  let crl
  try {
    crl = await parts.ca.buildCrl(now)
  } catch {
    return
  }
  notifyCrl(parts, crl)
}

/** The current CRL of `scope` with a strong ETag. */
export async function crlSnapshot (parts: CaParts, now: Date, scope: 'issuing' | 'root'): Promise<CrlSnapshot> {
  try {
    const info = await parts.ca.currentCrl(now, scope)
    // A strong validator: the CRL bytes' hash (128 bits of SHA-256 is ample for equality).
    const etag = createHash('sha256').update(info.der).digest('base64url').slice(0, 22)
    return { der: info.der, etag, crlNumber: info.crlNumber, thisUpdate: info.thisUpdate, nextUpdate: info.nextUpdate }
  } catch (err) {
    throw toEnrollmentError(err)
  }
}
