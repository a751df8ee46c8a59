import { checkNodeCsr } from '../ca/csr-policy.ts'
import { parseCsr } from '../ca/index.ts'
import { isValidNodeId } from '../pki/node-identity.ts'
import { isTokenFormat, TokenError, tokenIdOf } from '../store/token-store.ts'
import { attest, attestedExtension, csrDerFromText, issuedBody } from './ca-parts.ts'
import { publishCrl } from './ca-revocation.ts'
import { toEnrollmentError } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import type { CaParts } from './ca-parts.ts'
import type { AttestationEvidence } from './schemas.ts'
import type { IssuedCertificate } from './types.ts'
import type { IssuedCert } from '../ca/index.ts'
import type { Lock } from '../util/lock.ts'

export interface EnrollRequest { token: string, csrPem: string, nodeId?: string, attestation?: AttestationEvidence }

/**
 * `POST /v1/enroll`: spends one use of a token on a certificate for the CSR's node_id. The
 * checks run cheapest and least revealing first, and the token is spent only once every check
 * passed. `capLock` serialises new nodes while a node cap is set: check-then-issue must not
 * interleave, or two enrollments could both pass at max-1.
 */
export async function enroll (parts: CaParts, capLock: Lock, req: EnrollRequest, now: Date): Promise<IssuedCertificate> {
  const { ca, gate, tokens, devices, events } = parts
  // What the event log names, learnt as the checks go: never the token, only its id.
  const seen: { nodeId: string | null, tokenId: string | null } = {
    nodeId: req.nodeId != null && isValidNodeId(req.nodeId) ? req.nodeId : null,
    tokenId: isTokenFormat(req.token) ? tokenIdOf(req.token) : null
  }
  try {
    // 1. The token first: without a live one, a caller learns nothing about our CSR checks. Its
    // roles are the certificate's only source of roles (the CA never copies a CSR's extensions).
    const token = await tokens.inspect(req.token, now.getTime())
    // 2. The CSR: strict parse, self-signature, node profile (exactly the node and peer URIs).
    const csr = parseCsr(csrDerFromText(req.csrPem))
    const { nodeId } = checkNodeCsr(csr)
    seen.nodeId = nodeId
    if (req.nodeId != null && req.nodeId !== nodeId) { throw new EnrollmentError('NODE_ID_CONFLICT') }
    if (token.nodeId != null && token.nodeId !== nodeId) { throw new EnrollmentError('TOKEN_NODE_MISMATCH') }
    // One live identity per node_id: only a replacement token (minted by the operator for this
    // node_id) may take a node_id someone holds, and it cuts the holder off; a node that holds
    // it already proves so at /v1/rotate or /v1/renew, never here.
    const live = token.replace === true && token.nodeId === nodeId ? 'supersede' : 'refuse'
    const run = async (): Promise<IssuedCertificate> => {
      // 3. Policy, the holder check and attestation, still before the token is spent.
      await gate.check(nodeId, { rotating: false })
      if (live === 'refuse' && await isHeld(parts, nodeId, now)) { throw new EnrollmentError('NODE_ID_TAKEN') }
      const device = await attest(parts, req.attestation, nodeId, csr.spki, now)
      // 4. Spend one use atomically (the losers of a race get TOKEN_REJECTED here), pin the
      // TPM (first enrollment), then issue; if that fails after all, the use is given back.
      // The store checks the holder again under its write lock (two racing enrollments for
      // one node_id: the second gets NODE_ID_TAKEN) and revokes a superseded one in the same batch.
      const grant = await tokens.consume(req.token, { now: now.getTime(), nodeId })
      let issued: IssuedCert
      try {
        const pinned = device != null ? await devices.pinFirst(nodeId, device, now) : undefined
        issued = await ca.issue({ csr: csr.der, now, nodeId, profile: 'node', liveCertificates: live, roles: token.roles ?? [], ...attestedExtension(parts, device, now) })
        if (pinned != null) { await devices.noteSerial(pinned, issued.serialHex) }
      } catch (err) {
        await grant.refund()
        throw err
      }
      gate.noteIssued(nodeId)
      const superseded = issued.superseded ?? []
      events.info({ event: 'enroll-accepted', node_id: nodeId, token_id: grant.tokenId, serial: issued.serialHex, superseded }, 'enrollment accepted')
      if (superseded.length > 0) {
        events.info({ event: 'revoked', serials: superseded, node_id: nodeId, reason: 'superseded', by: `replacement-token:${grant.tokenId}` }, 'certificates revoked')
        await publishCrl(parts, now)
      }
      return issuedBody(ca, issued)
    }
    return gate.policy.maxNodes != null ? await capLock.run(run) : await run()
  } catch (err) {
    const e = toEnrollmentError(err)
    const refusal = err instanceof TokenError ? err.refusal : undefined
    events.info({ event: 'enroll-refused', code: e.code, node_id: seen.nodeId, token_id: seen.tokenId, ...(refusal != null ? { token_refusal: refusal } : {}) }, 'enrollment refused')
    throw e
  }
}

/**
 * True when `nodeId` has a live certificate (unexpired at `now`, unrevoked) from this CA or
 * from the one being retired. A look ahead of the store's own check, so that a refusal costs
 * neither a signature nor a token use.
 */
async function isHeld (parts: CaParts, nodeId: string, now: Date): Promise<boolean> {
  for (const ca of parts.accepted.map(a => a.ca)) {
    for (const c of await ca.certificatesOf(nodeId)) {
      if (c.notAfter > now.getTime() && await ca.store.getRevocation(c.serialHex) == null) { return true }
    }
  }
  return false
}
