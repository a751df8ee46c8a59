import { ChainValidationError } from '../../src/pki/chain-errors.ts'
import { nodeIdentity } from '../../src/pki/node-identity.ts'
import { MAX_DELEGATION_MS } from './constants.ts'
import { DelegationCache } from './delegation-cache.ts'
import { verifyOriginSignature } from './origin-proof.ts'
import type { AnomalyEnvelope } from './codec.ts'
import type { AnomalyValidationCode } from './errors.ts'
import type { Certificate } from '../../src/pki/certificate.ts'
import type { NodeIdentity } from '../../src/pki/node-identity.ts'
import type { VerifiedPath } from '../../src/pki/verify-chain.ts'

/**
 * Is this envelope its origin's? The part of validation that gossip, pre-signed submissions and
 * the re-verification of a stored message share: the origin's chain at a given time (revocation
 * is always the current state), the certificate names the origin, the identity key delegated
 * the gossip key for the envelope's timestamp, and the gossip key signed the envelope. Pure but
 * for the caches (chain verifier, delegations), which only remember verified signatures.
 */

/** The chain check the validator needs; `ChainVerifier` (src/pki/chain-verifier.ts) fits as is. */
export interface OriginChainVerifier {
  /** Verifies `leaf` with `chain` at `now`; cached by fingerprint; throws ChainValidationError (REVOKED by issuer + serial). */
  verify(now: Date, leaf: Uint8Array, chain: Uint8Array[]): VerifiedPath
}

export interface OriginCheckContext {
  verifier: OriginChainVerifier
  /** Verified delegations. @default one cache shared by the process */
  delegations?: DelegationCache
  /** False when the attestation policy refuses this origin certificate. @default every origin passes */
  originAttested?(leaf: Certificate): boolean
}

export interface OriginChecked {
  leaf: Certificate
  origin: { nodeId: string, peerId: string }
}

const sharedDelegations = new DelegationCache()

/**
 * The delegation's own window, before any signature: [REJECT] the envelope's timestamp lies in
 * [nbf, exp] (DELEGATION_EXPIRED) and the delegation is no longer than MAX_DELEGATION_MS
 * (BAD_DELEGATION). Two compares, so a stale or absurd delegation costs no chain check.
 */
export function delegationWindowCode (e: AnomalyEnvelope): AnomalyValidationCode | undefined {
  const d = e.delegation
  if (d.exp < d.nbf || d.exp - d.nbf > MAX_DELEGATION_MS) { return 'BAD_DELEGATION' }
  if (e.timestamp < d.nbf || e.timestamp > d.exp) { return 'DELEGATION_EXPIRED' }
  return undefined
}

/**
 * Checks that `e` is its origin's at `at` (the chain's validity time). `signerPeerId`, when the
 * carrier has a signer of its own (a DTN bundle), must be the PeerId the certificate binds.
 * Returns the origin or the refusal code; never throws.
 */
export function checkOrigin (at: Date, e: AnomalyEnvelope, ctx: OriginCheckContext, signerPeerId?: string): OriginChecked | AnomalyValidationCode {
  // [REJECT] The delegation's window holds the timestamp and is not too long (cheap, no crypto).
  const window = delegationWindowCode(e)
  if (window != null) { return window }

  // [REJECT] The origin chain leads to a trusted root, and no certificate on it is revoked by issuer
  // + serial (Set lookup inside the verifier; a warm cache costs a hash and a lookup, no parse).
  let path: VerifiedPath
  try {
    path = ctx.verifier.verify(at, e.origin_cert[0], e.origin_cert.slice(1))
  } catch (err) {
    return chainCode(err)
  }
  const leaf = path.path[0]

  // [REJECT] The leaf names exactly one node_id and one PeerId.
  const id = identityOf(leaf)
  if (id?.peerId == null) { return 'NOT_NODE_CERT' }
  // [REJECT] A carrier's signer, when there is one, is the PeerId in the certificate.
  if (signerPeerId != null && id.peerId !== signerPeerId) { return 'PEER_ID_MISMATCH' }
  // [REJECT] The certificate's node_id is the envelope's origin.
  if (id.nodeId !== e.origin) { return 'ORIGIN_MISMATCH' }
  // [REJECT] Under an enforcing attestation policy, the origin's certificate says its device passed.
  if (ctx.originAttested?.(leaf) === false) { return 'ORIGIN_NOT_ATTESTED' }

  // [REJECT] The delegation ends no later than the certificate, and the certificate's identity key
  // signed it for this origin (verified once per delegation, then a cache hit).
  if (e.delegation.exp > leaf.notAfter) { return 'BAD_DELEGATION' }
  const key = (ctx.delegations ?? sharedDelegations).verify(leaf, e.origin, e.delegation)
  if (key == null) { return 'BAD_DELEGATION' }

  // [REJECT] The delegated gossip key signed (message_id, origin, payload digest, timestamp, expiry).
  if (!verifyOriginSignature(key, e, e.sig)) { return 'BAD_ORIGIN_SIGNATURE' }

  return { leaf, origin: { nodeId: id.nodeId, peerId: id.peerId } }
}

/** Maps a chain failure to its bounded validation code. */
function chainCode (err: unknown): AnomalyValidationCode {
  if (!(err instanceof ChainValidationError)) { return 'CERT_INVALID' }
  switch (err.code) {
    case 'REVOKED': return 'ORIGIN_REVOKED'
    case 'UNKNOWN_ISSUER': return 'CERT_UNTRUSTED'
    case 'EXPIRED':
    case 'NOT_YET_VALID': return 'CERT_EXPIRED'
    default: return 'CERT_INVALID'
  }
}

/** Leaf identities, kept per parsed certificate (a verifier cache hit returns the same object). */
const identities = new WeakMap<Certificate, NodeIdentity | null>()

function identityOf (leaf: Certificate): NodeIdentity | null {
  let id = identities.get(leaf)
  if (id === undefined) {
    try {
      id = nodeIdentity(leaf)
    } catch {
      id = null
    }
    identities.set(leaf, id)
  }
  return id
}
