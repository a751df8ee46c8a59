import type { RevocationPredicate } from '../../protocols/auth/index.ts'
import type { PeerIdentity } from '../pki/peer-verifier.ts'

/**
 * The node's revocation state as the enforcement point sees it: one predicate per source (a CA's
 * CRL, an operator's deny list, ...). A newer CRL from a source replaces that source's predicate;
 * a peer is revoked when any source says so. Bounded by the number of sources, not of CRLs.
 */
export class RevocationState {
  private readonly predicates = new Map<string, RevocationPredicate>()

  /** Installs (or replaces) the predicate of `source`. */
  set (source: string, predicate: RevocationPredicate): void {
    this.predicates.set(source, predicate)
  }

  /** True when any source revokes `identity`; a predicate that throws counts as revoking (fail closed). */
  isRevoked (identity: PeerIdentity): boolean {
    for (const predicate of this.predicates.values()) {
      try {
        if (predicate(identity)) { return true }
      } catch {
        return true
      }
    }
    return false
  }
}

/** What `applyRevocation` did. */
export interface RevocationReport {
  /** Peers found revoked among the connected and known ones. */
  revoked: Array<{ peerId: string, nodeId: string, serialHex: string }>
  /** Connections closed because of it. */
  closedConnections: number
}
