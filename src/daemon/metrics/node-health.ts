import { NODE_READINESS_DEFAULTS, nodeReadiness } from './node-readiness.ts'
import type { NodeReadinessOptions } from './node-readiness.ts'
import type { ReadinessReport } from '../../metrics/readiness.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { ChainVerifier } from '../../pki/chain-verifier.ts'
import type { NodeLifecycle } from '../lifecycle/node-lifecycle.ts'
import type { SelfRevocationWatch } from '../runtime/self-revocation.ts'

/** What a node runtime's readiness reads. */
export interface NodeHealthParts {
  node: MeshNode
  lifecycle: NodeLifecycle
  verifier: ChainVerifier
  selfRevocation: SelfRevocationWatch
  now(): number
}

/** The runtime's readiness now (`/readyz`, `node status`). */
export function runtimeReadiness (parts: NodeHealthParts, options: Partial<NodeReadinessOptions> = {}): ReadinessReport {
  const leaf = parts.lifecycle.credentials.current().leaf
  const revoked = parts.selfRevocation.revoked
  return nodeReadiness({
    now: parts.now(),
    certificate: { notBefore: leaf.notBefore, notAfter: leaf.notAfter, serialHex: leaf.serialHex },
    ...(revoked != null ? { revoked: { crlNumber: revoked.crl_number, reason: revoked.reason } } : {}),
    crls: parts.verifier.crls,
    authenticatedMembers: parts.node.peers.list().filter(p => p.status === 'authenticated').length
  }, { ...NODE_READINESS_DEFAULTS, ...options })
}
