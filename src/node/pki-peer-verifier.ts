import { ChainValidationError } from '../pki/chain-errors.ts'
import { NodeIdentityError, nodeIdentity } from '../pki/node-identity.ts'
import { PeerCertificateError } from '../pki/peer-verifier.ts'
import { rolesOf } from '../pki/roles-extension.ts'
import { verifyChain } from '../pki/verify-chain.ts'
import type { Certificate } from '../pki/certificate.ts'
import type { ChainPolicy } from '../pki/chain-policy.ts'
import type { Crl } from '../pki/crl.ts'
import type { PeerCertificateVerifier, PeerIdentity } from '../pki/peer-verifier.ts'
import type { VerifiedPath } from '../pki/verify-chain.ts'

/** Validates a leaf with the presented intermediates at `now`; throws ChainValidationError. */
export type ChainValidator = (now: Date, leaf: Uint8Array, intermediates: Uint8Array[]) => VerifiedPath | Promise<VerifiedPath>

export interface PkiPeerVerifierInit {
  /** The trust anchors, read on every call so that CA rotation takes effect at once. */
  roots(): Array<Uint8Array | Certificate>
  /** The node's current CRLs (CA-signed, newest per issuer), read on every call. @default none */
  crls?(): Array<Uint8Array | Crl>
  /** Extra chain policy on top of the mesh default (EKU clientAuth+serverAuth, no CA leaf, ...). */
  policy?: ChainPolicy
  /**
   * Replaces the validation step, e.g. with the caching ChainVerifier of src/pki; the default
   * calls `verifyChain` with `roots`, `crls` and `policy`.
   */
  validate?: ChainValidator
}

/**
 * The PeerCertificateVerifier on the mesh PKI: `verifyChain` for the path (trusted root,
 * signatures, validity, EKU, CRLs) and `nodeIdentity` for the SAN, then the fields the auth
 * protocol and the peer table need. Refusals come out as PeerCertificateError with bounded codes.
 */
export class PkiPeerVerifier implements PeerCertificateVerifier {
  private readonly validate: ChainValidator

  constructor (init: PkiPeerVerifierInit) {
    this.validate = init.validate ?? ((now, leaf, intermediates) => verifyChain(now, leaf, intermediates, init.roots(), init.crls?.() ?? [], init.policy))
  }

  async verify (now: Date, chain: Uint8Array[]): Promise<PeerIdentity> {
    if (chain.length === 0) { throw new PeerCertificateError('NO_CERTIFICATE', 'no certificate presented') }
    let verified: VerifiedPath
    try {
      verified = await this.validate(now, chain[0], chain.slice(1))
    } catch (err: any) {
      if (err instanceof ChainValidationError) {
        if (err.code === 'REVOKED') { throw new PeerCertificateError('REVOKED', err.message, undefined, { cause: err }) }
        throw new PeerCertificateError('CHAIN_INVALID', err.message, err.code, { cause: err })
      }
      throw new PeerCertificateError('CHAIN_INVALID', 'chain could not be validated', 'MALFORMED_CERTIFICATE', { cause: err })
    }
    const known = identities.get(verified)
    if (known != null) { return { ...known } }
    const leaf = verified.path[0]
    let ids: { nodeId: string, peerId?: string }
    try {
      ids = nodeIdentity(leaf)
    } catch (err: any) {
      const code = err instanceof NodeIdentityError ? err.code : 'MISSING_NODE_ID'
      throw new PeerCertificateError('NOT_NODE_CERTIFICATE', 'leaf carries no usable mesh identity', code, { cause: err })
    }
    if (ids.peerId == null) {
      throw new PeerCertificateError('NOT_NODE_CERTIFICATE', 'leaf binds no libp2p PeerId', 'MISSING_PEER_ID')
    }
    let roles: string[]
    try {
      roles = rolesOf(leaf)
    } catch (err: any) {
      // The CA signed it, so a broken roles extension means a broken issuer: trust none of the leaf.
      throw new PeerCertificateError('NOT_NODE_CERTIFICATE', 'leaf carries a malformed roles extension', 'MALFORMED_EXTENSION', { cause: err })
    }
    const issuer = verified.path[1] ?? verified.anchor
    const identity: PeerIdentity = {
      nodeId: ids.nodeId,
      peerId: ids.peerId,
      serialHex: leaf.serialHex,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      spki: leaf.spki,
      fingerprint: leaf.fingerprint,
      issuerFingerprint: issuer.fingerprint,
      roles
    }
    identities.set(verified, identity)
    return { ...identity }
  }
}

/**
 * Identities by verified path. A caching validator hands back the same path object for a chain
 * it has seen, so a repeat handshake skips decoding the SAN again; every caller gets its own copy.
 */
const identities = new WeakMap<VerifiedPath, PeerIdentity>()

/** The part of src/pki's caching ChainVerifier the node needs. */
export interface CachingChainVerifier {
  verify(now: Date, leaf: Uint8Array, chain: Uint8Array[]): VerifiedPath
}

/**
 * The node's verifier on top of a caching ChainVerifier: a repeated handshake with the same chain
 * costs a hash and a map lookup instead of a full path validation. CRLs live in the ChainVerifier
 * (`installCrl`), so its revocation state is the one auth consults.
 */
export function peerVerifierFromChainVerifier (chainVerifier: CachingChainVerifier): PkiPeerVerifier {
  return new PkiPeerVerifier({ roots: () => [], validate: (now, leaf, intermediates) => chainVerifier.verify(now, leaf, intermediates) })
}
