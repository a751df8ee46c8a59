import { readFile } from 'node:fs/promises'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { writeFileExclusive } from '../util/atomic-file.ts'
import { KeyStoreError } from './errors.ts'
import { decodeKeyFile, encodeKeyFile } from './key-file.ts'
import type { KeyFileOptions } from './key-file.ts'
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface'

export { HOST_KEY_LABEL, hostKeyPath } from './host-key-path.ts'

/**
 * The libp2p host key (Ed25519) is what TLS 1.3 authenticates on every link, so libp2p must hold
 * it in memory; it is kept at rest in the same encrypted key file format as every other key,
 * marked exportable, as PKCS#8. A software key store can therefore `load` it too.
 */

/** PKCS#8 prefix of an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/** PKCS#8 DER of a libp2p Ed25519 key. */
export function hostKeyToPkcs8 (key: Ed25519PrivateKey): Buffer {
  // libp2p's raw Ed25519 private key is seed (32) || public key (32).
  return Buffer.concat([ED25519_PKCS8_PREFIX, key.raw.subarray(0, 32)])
}

/** The libp2p key held in an Ed25519 PKCS#8 DER. */
export async function hostKeyFromPkcs8 (pkcs8: Uint8Array): Promise<Ed25519PrivateKey> {
  const buf = Buffer.from(pkcs8)
  if (buf.length !== 48 || !buf.subarray(0, 16).equals(ED25519_PKCS8_PREFIX)) {
    throw new KeyStoreError('TAMPERED_KEY_FILE', 'host key file does not hold an Ed25519 PKCS#8 key')
  }
  return generateKeyPairFromSeed('Ed25519', buf.subarray(16))
}

/** Generates a host key, writes it encrypted (0600, never over an existing file), returns it and its PeerId. */
export async function createHostKey (path: string, passphrase: string, options: KeyFileOptions = {}): Promise<{ key: Ed25519PrivateKey, peerId: PeerId }> {
  const key = await generateKeyPair('Ed25519')
  const pkcs8 = hostKeyToPkcs8(key)
  try {
    await writeFileExclusive(path, await encodeKeyFile({ algorithm: 'Ed25519', exportable: true, pkcs8 }, passphrase, options), 0o600)
  } catch (err: any) {
    if (err.code === 'EEXIST') { throw new KeyStoreError('KEY_EXISTS', `${path} already exists; refusing to overwrite`) }
    throw err
  } finally {
    pkcs8.fill(0)
  }
  return { key, peerId: peerIdFromPrivateKey(key) }
}

/** Reads and decrypts the host key at `path`. */
export async function loadHostKey (path: string, passphrase: string): Promise<{ key: Ed25519PrivateKey, peerId: PeerId }> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err: any) {
    if (err.code === 'ENOENT') { throw new KeyStoreError('KEY_NOT_FOUND', `no host key at ${path}`) }
    throw err
  }
  const contents = await decodeKeyFile(bytes, passphrase)
  try {
    if (contents.algorithm !== 'Ed25519') { throw new KeyStoreError('TAMPERED_KEY_FILE', 'host key is not Ed25519') }
    const key = await hostKeyFromPkcs8(contents.pkcs8)
    return { key, peerId: peerIdFromPrivateKey(key) }
  } finally {
    contents.pkcs8.fill(0)
  }
}
