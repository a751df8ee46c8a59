import { createPublicKey } from 'node:crypto'
import { SIG_OID, verifySignature } from './signature.ts'
import type { KeyObject } from 'node:crypto'

/*
 * A signature by a mesh identity key, checked with the key in its certificate: the auth transcript
 * and a bundle's originator signature use it, so it lives with the other signature helpers.
 */

// AlgorithmIdentifier DER for the two identity key types (RFC 5758 §3.2, RFC 8410 §3).
const ECDSA_SHA256_ALG = { oid: SIG_OID.ECDSA_SHA256, der: Uint8Array.from([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]) }
const ECDSA_SHA384_ALG = { oid: SIG_OID.ECDSA_SHA384, der: Uint8Array.from([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]) }
const ED25519_ALG = { oid: SIG_OID.ED25519, der: Uint8Array.from([0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]) }

/**
 * KeyObjects by SPKI array. The chain verifier's cache hands back the same parsed leaf, and so the
 * same `spki` array, for every handshake with a known certificate: a repeat dial then skips the
 * key import. Weak, so a certificate that leaves that cache takes its key with it.
 */
const publicKeys = new WeakMap<Uint8Array, KeyObject>()

/**
 * Verifies a transcript signature with the certificate's key. The algorithm follows from the key
 * type in the certificate, never from anything the peer says, so there is no algorithm to confuse.
 * Signatures use the X.509 encodings (DER ECDSA-Sig-Value, raw Ed25519), as the identity key
 * stores produce them. Returns false for a wrong signature or an unusable key.
 */
export function verifyTranscriptSignature (spki: Uint8Array, transcript: Uint8Array, signature: Uint8Array): boolean {
  let key = publicKeys.get(spki)
  if (key == null) {
    try {
      key = createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' })
    } catch {
      return false
    }
    publicKeys.set(spki, key)
  }
  const alg = key.asymmetricKeyType === 'ed25519'
    ? ED25519_ALG
    : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      ? ECDSA_SHA256_ALG
      : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1'
        ? ECDSA_SHA384_ALG
        : undefined
  if (alg == null) { return false }
  try {
    return verifySignature(alg, key, transcript, signature)
  } catch {
    return false
  }
}
