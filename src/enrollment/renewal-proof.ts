import { encode } from 'cborg'

/** Domain-separation label of the renewal proof. */
export const RENEWAL_LABEL = 'dadm-mesh/renew/1'

/**
 * What the OLD identity key signs to renew an expired certificate (`POST /v1/renew`): CBOR
 * [label, CA nonce, CSR DER]. The CA's fresh nonce makes it single use; the CSR, self-signed by
 * the NEW key, binds the new key to the proof by the old one, so the two prove possession of
 * both keys at once. Signed with the X.509 encodings (DER ECDSA, raw Ed25519) like every
 * identity-key signature, and verified with the old certificate's key.
 */
export function renewalTranscript (nonce: Uint8Array, csrDer: Uint8Array): Uint8Array {
  return encode([RENEWAL_LABEL, nonce, csrDer])
}
