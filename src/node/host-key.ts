import { HOST_KEY_LABEL, hostKeyFromPkcs8, hostKeyPath, loadHostKey } from '../identity/host-key.ts'
import { MeshNodeError } from './errors.ts'
import type { KeyStore } from '../identity/key-store.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

/**
 * Where a mesh node gets its libp2p host key (Ed25519, software: libp2p holds it to run TLS).
 * Enrollment creates it, encrypted at rest (`<dir>/keys/host.key`, the identity key-file
 * format), before the CSR, because the certificate binds its PeerId: the node only ever loads
 * it, never makes a new one, or its certificate would name another peer.
 */

/** Loads the host key of the enrolled node in `dataDir`. */
export async function loadHostKeyFromDataDir (dataDir: string, passphrase: string): Promise<Ed25519PrivateKey> {
  return (await loadHostKey(hostKeyPath(dataDir), passphrase)).key
}

/** Loads the host key from an identity KeyStore (it must have been created exportable). */
export async function loadHostKeyFromStore (store: KeyStore, label = HOST_KEY_LABEL): Promise<Ed25519PrivateKey> {
  const handle = await store.load(label)
  if (handle.algorithm !== 'Ed25519') { throw new MeshNodeError('HOST_KEY_INVALID', 'the host key must be Ed25519') }
  const pkcs8 = await handle.exportPrivateKey()
  try {
    return await hostKeyFromPkcs8(pkcs8)
  } finally {
    pkcs8.fill(0)
  }
}
