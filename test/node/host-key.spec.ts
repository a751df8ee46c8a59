import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { nodePaths, writeFileAtomic } from '../../src/daemon/enroll/node-files.ts'
import { hostKeyToPkcs8 } from '../../src/identity/host-key.ts'
import { encodeKeyFile, MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { peerIdFromEd25519Spki } from '../../src/identity/peer-id.ts'
import { SoftwareKeyStore } from '../../src/identity/software-key-store.ts'
import { loadHostKeyFromDataDir, loadHostKeyFromStore } from '../../src/node/index.ts'

describe('node host key (encrypted at rest)', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-hostkey-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it("loads the enrolled node's host key from its data directory", async () => {
    const key = await generateKeyPair('Ed25519')
    await writeFileAtomic(nodePaths(dir).hostKey, await encodeKeyFile({ algorithm: 'Ed25519', exportable: true, pkcs8: hostKeyToPkcs8(key) }, 'pw', { scryptLogN: MIN_SCRYPT_LOG_N }))
    const loaded = await loadHostKeyFromDataDir(dir, 'pw')
    expect(peerIdFromPrivateKey(loaded).equals(peerIdFromPrivateKey(key))).to.equal(true)
  })

  it('refuses a wrong passphrase and a missing key, never making a new one', async () => {
    const key = await generateKeyPair('Ed25519')
    await writeFileAtomic(nodePaths(dir).hostKey, await encodeKeyFile({ algorithm: 'Ed25519', exportable: true, pkcs8: hostKeyToPkcs8(key) }, 'pw', { scryptLogN: MIN_SCRYPT_LOG_N }))
    expect(await loadHostKeyFromDataDir(dir, 'wrong').catch(e => e)).to.include({ name: 'KeyStoreError', code: 'WRONG_PASSPHRASE' })
    expect(await loadHostKeyFromDataDir(join(dir, 'elsewhere'), 'pw').catch(e => e)).to.include({ name: 'KeyStoreError', code: 'KEY_NOT_FOUND' })
  })

  it('loads it from an identity KeyStore holding it exportable', async () => {
    const store = new SoftwareKeyStore({ dir, passphrase: 'pw', scryptLogN: MIN_SCRYPT_LOG_N })
    const handle = await store.generate('host', 'Ed25519', { exportable: true })
    const loaded = await loadHostKeyFromStore(store)
    expect(peerIdFromPrivateKey(loaded).toString()).to.equal(peerIdFromEd25519Spki(handle.publicKeySpki))
  })

  it('refuses a P-256 key as the host key (HOST_KEY_INVALID)', async () => {
    const store = new SoftwareKeyStore({ dir, passphrase: 'pw', scryptLogN: MIN_SCRYPT_LOG_N })
    await store.generate('host', 'P-256', { exportable: true })
    expect(await loadHostKeyFromStore(store).catch(e => e)).to.include({ name: 'MeshNodeError', code: 'HOST_KEY_INVALID' })
  })
})
