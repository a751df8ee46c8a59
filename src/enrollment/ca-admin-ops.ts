import { mapErrors, csrDerFromText } from './ca-parts.ts'
import { toEnrollmentError } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import type { CaParts } from './ca-parts.ts'
import type { CreatedToken } from './types.ts'

/** The operator's commands on the CA (admin socket, `ca` CLI): tokens, admin certificates, blocks. */

export interface TokenRequest { nodeId?: string, ttlMs: number, uses: number, replace?: boolean, roles?: string[] }

/** Mints an enrollment token; the audit trail and the event log name it by its id only. */
export async function createToken (parts: CaParts, req: TokenRequest, now: Date): Promise<CreatedToken> {
  return mapErrors(async () => {
    const replace = req.replace === true
    const t = await parts.tokens.create({ now: now.getTime(), ttlMs: req.ttlMs, uses: req.uses, ...(req.nodeId != null ? { nodeId: req.nodeId } : {}), ...(replace ? { replace } : {}), ...(req.roles != null ? { roles: req.roles } : {}) })
    const roles = t.record.roles ?? []
    await parts.ca.store.appendAudit(now.getTime(), 'token-create', { token_id: t.tokenId, node_id: req.nodeId ?? null, uses: req.uses, expires_at: t.record.expiresAt, ...(replace ? { replace } : {}), ...(roles.length > 0 ? { roles: roles.join(',') } : {}) })
    parts.events.info({ event: 'token-minted', token_id: t.tokenId, node_id: req.nodeId ?? null, uses: req.uses, expires_at: t.record.expiresAt, replace, roles }, 'token minted')
    return { token: t.token, tokenId: t.tokenId, expiresAt: t.record.expiresAt, uses: req.uses, roles, ...(req.nodeId != null ? { nodeId: req.nodeId } : {}), ...(replace ? { replace } : {}) }
  })
}

export interface AdminCertificate { certificatePem: string, chainPem: string, caCertPem: string, serialHex: string, notAfter: number }

/** Issues an admin certificate; a name the admin profile refuses is INVALID_ADMIN_NAME. */
export async function issueAdminCert (parts: CaParts, req: { csrPem: string, name: string, validitySeconds?: number }, now: Date): Promise<AdminCertificate> {
  const { ca } = parts
  try {
    const issued = await ca.issue({ csr: csrDerFromText(req.csrPem), now, profile: 'admin', adminName: req.name, ...(req.validitySeconds != null ? { validitySeconds: req.validitySeconds } : {}) })
    return { certificatePem: issued.pem, chainPem: issued.chainPem, caCertPem: ca.rootPem, serialHex: issued.serialHex, notAfter: issued.notAfter }
  } catch (err) {
    const mapped = toEnrollmentError(err)
    throw mapped.code === 'NODE_ID_CONFLICT' ? new EnrollmentError('INVALID_ADMIN_NAME', { cause: err }) : mapped
  }
}

/** What `ca issue` asks for: any profile, as the operator may; the CA's own checks apply. */
export interface OperatorIssueRequest { csrPem: string, profile: 'node' | 'admin' | 'server', validitySeconds?: number, nodeId?: string, dnsNames?: string[], ipAddresses?: string[] }
export interface OperatorIssued { pem: string, serialHex: string, subject: string, notAfter: number }

/** `ca issue` through the running service (which holds the store and the key). */
export async function issueForOperator (parts: CaParts, req: OperatorIssueRequest, now: Date): Promise<OperatorIssued> {
  return mapErrors(async () => {
    const issued = await parts.ca.issue({
      csr: csrDerFromText(req.csrPem),
      now,
      profile: req.profile,
      ...(req.validitySeconds != null ? { validitySeconds: req.validitySeconds } : {}),
      ...(req.nodeId != null ? { nodeId: req.nodeId } : {}),
      ...(req.dnsNames != null ? { dnsNames: req.dnsNames } : {}),
      ...(req.ipAddresses != null ? { ipAddresses: req.ipAddresses } : {})
    })
    return { pem: issued.pem, serialHex: issued.serialHex, subject: issued.subject, notAfter: issued.notAfter }
  })
}

/**
 * `ca unblock`: lifts the block on a node_id so it may enroll again with a fresh token (its
 * old certificates stay revoked). INVALID_NODE_ID or NODE_NOT_BLOCKED when there is nothing to lift.
 */
export async function unblockNode (parts: CaParts, req: { nodeId: string, by?: string }, now: Date): Promise<void> {
  await mapErrors(async () => {
    await parts.ca.unblockNodeId(req.nodeId, now)
    parts.events.info({ event: 'node-unblocked', node_id: req.nodeId, by: req.by ?? 'local-admin-socket' }, 'node_id unblocked')
  })
}
