import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { decodeDer, readOctetAlignedBitString, readOid } from '../util/der.ts'
import { KeyStoreError } from './errors.ts'

const OID_ED25519 = '1.3.101.112'

/**
 * The libp2p PeerId (base58btc text) of an Ed25519 key given as SPKI DER. A node whose identity
 * key is Ed25519 may use it as its libp2p host key too; then its PeerId follows from the key.
 */
export function peerIdFromEd25519Spki (spki: Uint8Array): string {
  const root = decodeDer(spki, { maxDepth: 3, maxNodes: 16 })
  if (root.children.length !== 2 || readOid(root.children[0].children[0]) !== OID_ED25519) {
    throw new KeyStoreError('UNSUPPORTED_ALGORITHM', 'a PeerId can be derived only from an Ed25519 key')
  }
  return peerIdFromPublicKey(publicKeyFromRaw(readOctetAlignedBitString(root.children[1]))).toString()
}
