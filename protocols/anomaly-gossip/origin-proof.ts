import { createPublicKey, hash, sign, verify } from 'node:crypto'
import { verifyTranscriptSignature } from '../../src/pki/identity-signature.ts'
import type { KeyObject } from 'node:crypto'

/**
 * The originator's proof inside an anomaly envelope, in two layers:
 *
 * - a delegation `{ key, nbf, exp, sig }`: the origin's identity key (the key its certificate
 * certifies, possibly in a TPM or HSM) signs a per-epoch Ed25519 gossip key and the window
 * in which that key may sign;
 * - the envelope signature `sig`: the gossip key signs (message_id, origin, payload digest,
 * timestamp, expiry).
 *
 * Both signed inputs start with their own label, so no signature made for one purpose (the auth
 * transcript, a bundle, a delegation, an envelope) verifies as another. Pure functions: the clock
 * and the caches belong to the callers.
 */

/** Domain-separation label of the envelope signature. */
export const ORIGIN_SIGNATURE_LABEL = 'dadm-mesh/anomaly-origin/v1'
/** Domain-separation label of the delegation signed by the identity key. */
export const DELEGATION_LABEL = 'dadm-mesh/gossip-delegation/v1'

/** Raw Ed25519 public key and signature lengths (RFC 8032). */
export const ED25519_KEY_BYTES = 32
export const ED25519_SIG_BYTES = 64

/** The identity key's statement that `key` may sign the origin's envelopes timestamped in [nbf, exp]. */
export interface GossipDelegation {
  /** Raw Ed25519 public key of the epoch. */
  key: Uint8Array
  /** First envelope timestamp the key may sign, ms since the epoch. */
  nbf: number
  /** Last envelope timestamp the key may sign, ms; never after the origin certificate's notAfter. */
  exp: number
  /** The identity key's signature (X.509 encodings: DER ECDSA for P-256, raw for Ed25519) over `delegationSigningInput`. */
  sig: Uint8Array
}

/** The fields of an envelope the origin signs. */
export interface SignedFields {
  message_id: string
  origin: string
  timestamp: number
  expiry: number
  payload: Uint8Array
}

/**
 * What the gossip key signs. The framing is unambiguous without length prefixes: message_id and
 * origin come from checked alphabets without newlines, the rest are a hex digest and integers.
 */
export function originSigningInput (e: SignedFields): Buffer {
  return Buffer.from(`${ORIGIN_SIGNATURE_LABEL}\n${e.message_id}\n${e.origin}\n${hash('sha256', e.payload, 'hex')}\n${e.timestamp}\n${e.expiry}`)
}

/** What the identity key signs: the origin node_id binds the delegation to one member. */
export function delegationSigningInput (origin: string, d: Pick<GossipDelegation, 'key' | 'nbf' | 'exp'>): Buffer {
  return Buffer.from(`${DELEGATION_LABEL}\n${origin}\n${Buffer.from(d.key).toString('hex')}\n${d.nbf}\n${d.exp}`)
}

// SubjectPublicKeyInfo prefix of a raw Ed25519 key (RFC 8410 §4).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** A node:crypto key from a raw Ed25519 public key; undefined when it is not one. */
export function ed25519PublicKey (raw: Uint8Array): KeyObject | undefined {
  if (raw.byteLength !== ED25519_KEY_BYTES) { return undefined }
  try {
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
  } catch {
    return undefined
  }
}

/** The raw 32 bytes of an Ed25519 public KeyObject. */
export function rawEd25519PublicKey (key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' })
  return new Uint8Array(der.subarray(der.byteLength - ED25519_KEY_BYTES))
}

/** True when the identity key (the leaf's SPKI) signed this delegation for `origin`. */
export function verifyDelegationSignature (leafSpki: Uint8Array, origin: string, d: GossipDelegation): boolean {
  return verifyTranscriptSignature(leafSpki, delegationSigningInput(origin, d), d.sig)
}

/** Signs an envelope's fields with an epoch's Ed25519 private key. */
export function signOrigin (privateKey: KeyObject, e: SignedFields): Uint8Array {
  return new Uint8Array(sign(null, originSigningInput(e), privateKey))
}

/** True when `sig` is the gossip key's signature over the envelope's fields. Never throws. */
export function verifyOriginSignature (key: KeyObject, e: SignedFields, sig: Uint8Array): boolean {
  if (sig.byteLength !== ED25519_SIG_BYTES) { return false }
  try {
    return verify(null, originSigningInput(e), key, sig)
  } catch {
    return false
  }
}
