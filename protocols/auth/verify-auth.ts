import { verifyTranscriptSignature } from './transcript.ts'
import type { AuthErrorCode } from './errors.ts'
import type { PeerIdentity } from '../../src/pki/peer-verifier.ts'

/**
 * The whole acceptance decision for one peer, as a pure function of the clock and what was
 * gathered from the wire and the PKI (Nebula `handshake/machine.go` style): easy to test
 * exhaustively, and the stream code only moves bytes and applies the verdict.
 */
export interface AuthCheckInput {
  /** `connection.remotePeer.toString()`: the PeerId TLS authenticated. */
  remotePeerId: string
  /** How many certificates the peer presented. */
  chainLength: number
  /** What the certificate verifier returned, or its refusal. */
  chain: { identity: PeerIdentity } | { code: 'CHAIN_INVALID' | 'REVOKED' | 'NO_CERTIFICATE', chainCode?: string }
  /** The node's revocation predicate on the identity (CRLs pushed or gossiped since the verifier's). */
  revoked: boolean
  /** The peer's nonce was seen in an earlier handshake. */
  nonceSeen: boolean
  /** The transcript the peer should have signed (its role, both PeerIds, both nonces). */
  transcript: Uint8Array
  signature: Uint8Array
}

export type AuthVerdict =
  | { ok: true, identity: PeerIdentity }
  | { ok: false, code: AuthErrorCode, chainCode?: string }

/** The checks that need no proof; returns the refusal, or null when only the signature is left. */
export function precheckAuth (now: number, input: Omit<AuthCheckInput, 'transcript' | 'signature'>): AuthVerdict & { ok: false } | null {
  // [REJECT] no certificate at all
  if (input.chainLength === 0) { return { ok: false, code: 'NO_CERTIFICATE' } }
  // [REJECT] the verifier refused the chain (untrusted root, bad signature, expired, revoked, not a node cert)
  if (!('identity' in input.chain)) {
    const { code, chainCode } = input.chain
    return chainCode == null ? { ok: false, code } : { ok: false, code, chainCode }
  }
  const identity = input.chain.identity
  // [REJECT] outside the validity window: verifiers may cache, so the window is checked again here
  if (now < identity.notBefore) { return { ok: false, code: 'CHAIN_INVALID', chainCode: 'NOT_YET_VALID' } }
  if (now > identity.notAfter) { return { ok: false, code: 'CHAIN_INVALID', chainCode: 'EXPIRED' } }
  // [REJECT] revoked by the node's current revocation state
  if (input.revoked) { return { ok: false, code: 'REVOKED' } }
  // [REJECT] the certificate names another PeerId than the one TLS authenticated (stolen certificate)
  if (identity.peerId !== input.remotePeerId) { return { ok: false, code: 'PEER_ID_MISMATCH' } }
  // [REJECT] the nonce was used before: a replayed transcript
  if (input.nonceSeen) { return { ok: false, code: 'REPLAYED_TRANSCRIPT' } }
  return null
}

/** Decides whether the remote peer is an authenticated mesh member at `now` (ms). Cheap checks first, signature last. */
export function verifyAuth (now: number, input: AuthCheckInput): AuthVerdict {
  const refusal = precheckAuth(now, input)
  if (refusal != null) { return refusal }
  // precheckAuth returned null, so the chain produced an identity
  const identity = (input.chain as { identity: PeerIdentity }).identity
  // [REJECT] the transcript signature does not verify under the certificate's key
  if (!verifyTranscriptSignature(identity.spki, input.transcript, input.signature)) {
    return { ok: false, code: 'BAD_TRANSCRIPT_SIGNATURE' }
  }
  return { ok: true, identity }
}
