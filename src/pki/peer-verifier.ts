import { MeshError } from '../errors.ts'

/**
 * The seam between the mesh node and the PKI: the auth protocol hands a presented chain to a
 * `PeerCertificateVerifier` and gets back who the peer is, or a bounded refusal. The node never
 * parses certificates itself, so the PKI can change (caching, CRL sources, policies) freely.
 */

/** Who a verified mesh certificate says the peer is. */
export interface PeerIdentity {
  /** From the SAN URI `urn:dadm:node:<node_id>`. */
  nodeId: string
  /** From the SAN URI `urn:libp2p:peer:<peerId>`, as the PeerId's string form. */
  peerId: string
  /** Leaf serial number, lower-case hex without leading zeros stripped (as DER carries it). */
  serialHex: string
  /** Leaf notBefore, ms since the epoch. */
  notBefore: number
  /** Leaf notAfter, ms since the epoch. */
  notAfter: number
  /** SubjectPublicKeyInfo DER of the leaf: the identity key that signs the auth transcript. */
  spki: Uint8Array
  /** SHA-256 of the leaf DER, lower-case hex: a cache key and a log field, never a revocation key. */
  fingerprint: string
  /**
   * SHA-256 (hex) of the DER of the certificate that issued the leaf. Revocation is by issuer +
   * serial (CONVENTIONS.md), so predicates need to know which CA a serial belongs to.
   */
  issuerFingerprint: string
  /** The roles the CA put in the leaf (roles extension), sorted; absent or empty when none. */
  roles?: string[]
}

/** Bounded reasons a chain is refused. */
export type PeerCertificateErrorCode =
  /** The chain was empty. */
  | 'NO_CERTIFICATE'
  /** Chain building or validation failed; `chainCode` carries the validator's own code. */
  | 'CHAIN_INVALID'
  /** A certificate on the path is revoked by a current CRL. */
  | 'REVOKED'
  /** The leaf is valid but is not a mesh node certificate (SAN URIs, EKU, CA flag). */
  | 'NOT_NODE_CERTIFICATE'

/** Raised by `PeerCertificateVerifier.verify`. */
export class PeerCertificateError extends MeshError<PeerCertificateErrorCode> {
  static name = 'PeerCertificateError'
  readonly chainCode?: string

  constructor (code: PeerCertificateErrorCode, message: string, chainCode?: string, options?: ErrorOptions) {
    super(code, message, options)
    if (chainCode != null) { this.chainCode = chainCode }
  }
}

export interface PeerCertificateVerifier {
  /** Verifies a presented chain (leaf first, DER) at `now`; returns the identity or throws a PeerCertificateError. */
  verify(now: Date, chain: Uint8Array[]): Promise<PeerIdentity>
}

/**
 * Signs with the node's mesh identity key, wherever it lives (encrypted file, PKCS#11, TPM). The
 * identity key stores' `KeyHandle` fits as is: `{ algorithm, spki: handle.publicKeySpki, sign }`.
 */
export interface IdentitySigner {
  algorithm: 'P-256' | 'Ed25519'
  /** SubjectPublicKeyInfo DER; must equal the leaf certificate's. */
  spki: Uint8Array
  /** X.509 encodings: DER ECDSA-Sig-Value with SHA-256 for P-256, raw 64 bytes for Ed25519. */
  sign(data: Uint8Array): Promise<Uint8Array>
}

/** True when a verified identity is revoked by the node's current revocation state. */
export type RevocationPredicate = (peer: PeerIdentity) => boolean
