import { createPublicKey } from 'node:crypto'
import { SIG_OID, verifySignature } from '../../src/pki/signature.ts'
import { cborHead, MAJOR_ARRAY, MAJOR_BYTES, MAJOR_TEXT } from '../../src/util/cbor-heads.ts'
import { TRANSCRIPT_LABEL } from './constants.ts'
import type { KeyObject } from 'node:crypto'

/** Which end of the connection signs: the dialer (outbound) or the listener (inbound). */
export type AuthRole = 'dialer' | 'listener'

export interface TranscriptInput {
  /** Raw multihash bytes of the dialer's and the listener's PeerIds. */
  dialerPeerId: Uint8Array
  listenerPeerId: Uint8Array
  dialerNonce: Uint8Array
  listenerNonce: Uint8Array
}

/**
 * The bytes a side signs: CBOR [label, role, dialer PeerId, listener PeerId, dialer nonce,
 * listener nonce]. The fixed dialer/listener order makes both sides build the same bytes; the
 * signer's role is inside so one side's signature can never stand in for the other's; both fresh
 * nonces make every transcript unique, so an old signature never verifies again.
 */
export function buildTranscript (role: AuthRole, t: TranscriptInput, label: string = TRANSCRIPT_LABEL): Uint8Array {
  // The CBOR is written out by hand: a fixed array of two text and four byte strings. cborg's
  // general encoder cost more than the signature's hashing on every dial; the bytes are the same
  // (test/protocols/auth/transcript.spec.ts compares them with cborg).
  const parts = [
    cborHead(MAJOR_ARRAY, 6),
    ...cborString(MAJOR_TEXT, utf8.encode(label)),
    ...cborString(MAJOR_TEXT, utf8.encode(role)),
    ...cborString(MAJOR_BYTES, t.dialerPeerId),
    ...cborString(MAJOR_BYTES, t.listenerPeerId),
    ...cborString(MAJOR_BYTES, t.dialerNonce),
    ...cborString(MAJOR_BYTES, t.listenerNonce)
  ]
  return Buffer.concat(parts)
}

const utf8 = new TextEncoder()

function cborString (major: number, bytes: Uint8Array): Uint8Array[] {
  return [cborHead(major, bytes.byteLength), bytes]
}

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
