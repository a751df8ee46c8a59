import { cborHead, MAJOR_ARRAY, MAJOR_BYTES, MAJOR_TEXT } from '../../src/util/cbor-heads.ts'
import { TRANSCRIPT_LABEL } from './constants.ts'

export { verifyTranscriptSignature } from '../../src/pki/identity-signature.ts'

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
