import { readinessReport } from '../../metrics/readiness.ts'
import type { ReadinessCheck, ReadinessReport } from '../../metrics/readiness.ts'
import type { Crl } from '../../pki/crl.ts'

/**
 * When a node counts as ready (`/readyz`, `node status`): its certificate is valid and not
 * revoked, the CRLs it holds are fresh, and it has at least `minMembers` authenticated members.
 * Pure: the runtime hands in what it sees, so every rule is tested without a running node.
 */

export interface NodeReadinessOptions {
  /**
   * Authenticated members needed. 1: a node with no member cannot deliver gossip or bundles,
   * which is what a load balancer or an orchestrator should know. 0 for the first node of a
   * mesh (a bootstrap server alone) or a CA's own node.
   */
  minMembers: number
  /**
   * Age after which a CRL without a nextUpdate counts as stale, ms. The mesh CA always sets
   * nextUpdate; a day matches the default certificate lifetime (DESIGN.md).
   */
  crlMaxAgeMs: number
}

export const NODE_READINESS_DEFAULTS: NodeReadinessOptions = { minMembers: 1, crlMaxAgeMs: 24 * 3600 * 1000 }

export interface NodeReadinessInput {
  now: number
  /** The certificate the node presents now. */
  certificate: { notBefore: number, notAfter: number, serialHex: string }
  /** Set once a CRL revoked this node's own certificate. */
  revoked?: { crlNumber: string | null, reason: string }
  /** The CRLs installed (one per CA). */
  crls: Crl[]
  authenticatedMembers: number
}

export function nodeReadiness (input: NodeReadinessInput, options: NodeReadinessOptions = NODE_READINESS_DEFAULTS): ReadinessReport {
  const checks: ReadinessCheck[] = [certificateCheck(input), crlCheck(input, options.crlMaxAgeMs), {
    name: 'members',
    ok: input.authenticatedMembers >= options.minMembers,
    detail: `${input.authenticatedMembers} authenticated member(s), ${options.minMembers} needed`
  }]
  return readinessReport(checks)
}

function certificateCheck (input: NodeReadinessInput): ReadinessCheck {
  const c = input.certificate
  if (input.revoked != null) {
    return { name: 'certificate', ok: false, detail: `revoked (${input.revoked.reason}, CRL ${input.revoked.crlNumber ?? '?'})` }
  }
  if (input.now < c.notBefore) { return { name: 'certificate', ok: false, detail: `serial ${c.serialHex} not valid before ${new Date(c.notBefore).toISOString()}` } }
  if (input.now > c.notAfter) { return { name: 'certificate', ok: false, detail: `serial ${c.serialHex} expired ${new Date(c.notAfter).toISOString()}` } }
  return { name: 'certificate', ok: true, detail: `serial ${c.serialHex} valid until ${new Date(c.notAfter).toISOString()}` }
}

function crlCheck (input: NodeReadinessInput, maxAgeMs: number): ReadinessCheck {
  if (input.crls.length === 0) { return { name: 'crl', ok: false, detail: 'no CRL installed yet' } }
  const stale = input.crls.filter(c => (c.nextUpdate ?? c.thisUpdate + maxAgeMs) < input.now)
  if (stale.length > 0) {
    return { name: 'crl', ok: false, detail: `${stale.length} of ${input.crls.length} CRL(s) past their nextUpdate (CRL ${stale.map(c => c.crlNumber?.toString() ?? '?').join(', ')})` }
  }
  return { name: 'crl', ok: true, detail: `${input.crls.length} CRL(s) fresh (CRL ${input.crls.map(c => c.crlNumber?.toString() ?? '?').join(', ')})` }
}
