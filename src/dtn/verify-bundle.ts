import { verifyTranscriptSignature } from '../pki/identity-signature.ts'
import { PeerCertificateError } from '../pki/peer-verifier.ts'
import { MAX_CLOCK_SKEW_MS } from './constants.ts'
import { BundleError } from './errors.ts'
import type { ParsedBundle } from './mesh-bundle.ts'
import type { RevocationPredicate } from '../pki/peer-verifier.ts'
import type { PeerIdentity } from '../pki/peer-verifier.ts'

/**
 * Who may vouch for a bundle: the same seam the auth protocol uses. `verifier` validates the
 * carried chain (trusted root, validity, CRLs, node certificate shape) - the PKI's caching chain
 * verifier or `PkiPeerVerifier`; `isRevoked` is the node's current revocation state, which can be
 * newer than the verifier's CRLs (pushed or gossiped since).
 */
export interface SourceVerifier {
  verifier: { verify(now: Date, chain: Uint8Array[]): Promise<PeerIdentity> }
  isRevoked: RevocationPredicate
  /** False when the attestation policy refuses this source certificate (src/attestation/attested-origin.ts). @default every source passes */
  originAttested?(leafDer: Uint8Array, fingerprint: string): boolean
}

/** The checks that need only the clock: cheap, so they come first. */
export function checkBundleTime (now: number, bundle: Pick<ParsedBundle, 'createdAt' | 'expiresAt'>): void {
  // [IGNORE] expired: a bundle past its lifetime is never stored, forwarded or delivered
  if (now >= bundle.expiresAt) { throw new BundleError('EXPIRED', 'bundle lifetime has passed') }
  // [REJECT] created further ahead of our clock than skew explains: its expiry cannot be trusted
  if (bundle.createdAt > now + MAX_CLOCK_SKEW_MS) { throw new BundleError('CREATED_IN_FUTURE', 'bundle creation time is ahead of our clock') }
}

/**
 * Verifies that `bundle` comes unaltered from its source at `now` (ms): chain, source name,
 * revocation, then the signature (the expensive step last). Returns the source's identity.
 * The chain is checked at arrival time, which is why sources never let a bundle outlive their
 * certificate (create-bundle.ts clamps the TTL).
 */
export async function verifyBundleSource (now: number, bundle: ParsedBundle, ctx: SourceVerifier): Promise<PeerIdentity> {
  checkBundleTime(now, bundle)
  let identity: PeerIdentity
  try {
    identity = await ctx.verifier.verify(new Date(now), bundle.chain)
  } catch (err: any) {
    // [REJECT] a chain that a current CRL revokes
    if (err instanceof PeerCertificateError && err.code === 'REVOKED') {
      throw new BundleError('REVOKED_SOURCE', 'source certificate is revoked', { cause: err })
    }
    // [REJECT] a chain that does not lead to a trusted root, or is not a node certificate
    const chainCode = err instanceof PeerCertificateError ? (err.chainCode ?? err.code) : 'UNKNOWN'
    throw new BundleError('UNTRUSTED_SOURCE', 'source certificate chain does not verify', { cause: err, chainCode })
  }
  // [REJECT] a valid certificate of another node: it cannot speak for this source
  if (identity.nodeId !== bundle.id.source) { throw new BundleError('SOURCE_MISMATCH', 'certificate names another node than the bundle source') }
  // [REJECT] revoked by the node's current revocation state (a throwing predicate counts as revoked)
  let revoked: boolean
  try {
    revoked = ctx.isRevoked(identity)
  } catch {
    revoked = true
  }
  if (revoked) { throw new BundleError('REVOKED_SOURCE', 'source is revoked') }
  // [REJECT] under an enforcing attestation policy, a source whose certificate says no device passed
  if (ctx.originAttested?.(bundle.chain[0], identity.fingerprint) === false) { throw new BundleError('ORIGIN_NOT_ATTESTED', 'source certificate carries no attested-device extension') }
  // [REJECT] the signature does not cover these bytes: altered by a relay, or forged
  if (!verifyTranscriptSignature(identity.spki, bundle.signedInput, bundle.signature)) {
    throw new BundleError('BAD_SIGNATURE', 'source signature does not verify')
  }
  return identity
}
