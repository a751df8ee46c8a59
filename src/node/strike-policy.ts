import type { AuthFailure } from '../../protocols/auth/types.ts'

/** Auth failures that say nothing bad about the peer, whoever dialled. */
const NEVER_STRIKES = new Set(['CLOSED', 'LOCAL_CREDENTIALS'])

/**
 * Whether a failed auth earns the peer a back-off (a block in both directions, see block-list.ts).
 *
 * The back-off keeps away peers that come at us with chains we must refuse. Two failures are not
 * that, and a block there would only outlast the cure:
 * - a peer WE dialled whose certificate has merely expired: it did nothing to us, and once it
 * renews (same PeerId) it comes back on its own; a block would refuse it for the back-off;
 * - a peer that refused OUR chain while our own certificate is not valid: the fault is ours, and
 * once we renew, a block would stop us reaching it.
 * Expired chains that dial in are still backed off, as every other refusal is.
 */
export function earnsBackoff (failure: AuthFailure, ownCertificateValid: () => boolean): boolean {
  if (NEVER_STRIKES.has(failure.code)) { return false }
  if (failure.code === 'CHAIN_INVALID' && failure.chainCode === 'EXPIRED' && failure.direction === 'outbound') { return false }
  if (failure.code === 'REMOTE_REJECTED' && !ownCertificateValid()) { return false }
  return true
}
