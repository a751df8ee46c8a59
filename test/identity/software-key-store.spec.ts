import { createPublicKey, verify } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { PASSPHRASE_ENV, requirePassphrase, resolvePassphrase } from '../../src/identity/passphrase.ts'
import { SoftwareKeyStore, generateKeyFile, loadKeyFile } from '../../src/identity/software-key-store.ts'

/** Tests use the floor scrypt cost so each open takes ~0.1 s instead of ~0.4 s. */
const FAST = { scryptLogN: MIN_SCRYPT_LOG_N }
const ALGORITHMS = ['P-256', 'Ed25519'] as const
/** Where to flip a bit: the header (flags byte), the ciphertext, the checksum trailer. */
const FLIPS = [['header', 9], ['ciphertext', 60], ['last byte', -1]] as const

async function rejects (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('software key store', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-keys-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  ALGORITHMS.forEach(alg => {
    it(`round-trips a ${alg} key: generate, reload, sign, verify`, async () => {
      const store = new SoftwareKeyStore({ dir, passphrase: 'correct horse', ...FAST })
      const made = await store.generate('node', alg)
      const loaded = await new SoftwareKeyStore({ dir, passphrase: 'correct horse' }).load('node')
      expect(loaded.algorithm).to.equal(alg)
      expect(Buffer.from(loaded.publicKeySpki).equals(Buffer.from(made.publicKeySpki))).to.equal(true)
      const data = new TextEncoder().encode('transcript')
      const sig = await loaded.sign(data)
      const key = createPublicKey({ key: Buffer.from(loaded.publicKeySpki), format: 'der', type: 'spki' })
      // X.509 form: DER ECDSA (node's default dsaEncoding) or raw Ed25519.
      expect(verify(alg === 'P-256' ? 'sha256' : null, data, key, sig)).to.equal(true)
      expect(loaded.signer().privateKey.extractable).to.equal(false)
    })
  })

  it('writes the key file with mode 0600', async () => {
    await new SoftwareKeyStore({ dir, passphrase: 'pw', ...FAST }).generate('k', 'P-256')
    expect((await stat(join(dir, 'k.key'))).mode & 0o777).to.equal(0o600)
  })

  it('refuses a wrong passphrase with WRONG_PASSPHRASE', async () => {
    await new SoftwareKeyStore({ dir, passphrase: 'right', ...FAST }).generate('k', 'P-256')
    const err = await rejects(new SoftwareKeyStore({ dir, passphrase: 'wrong' }).load('k'))
    expect(err).to.have.property('name', 'KeyStoreError')
    expect(err).to.have.property('code', 'WRONG_PASSPHRASE')
  })

  FLIPS.forEach(([where, offset]) => {
    it(`refuses a file with a flipped byte in the ${where} with TAMPERED_KEY_FILE`, async () => {
      await new SoftwareKeyStore({ dir, passphrase: 'pw', ...FAST }).generate('k', 'Ed25519')
      const path = join(dir, 'k.key')
      const bytes = await readFile(path)
      bytes[offset < 0 ? bytes.length + offset : offset] ^= 0x01
      await writeFile(path, bytes)
      const err = await rejects(loadKeyFile(path, 'pw'))
      expect(err).to.have.property('code', 'TAMPERED_KEY_FILE')
    })
  })

  it('refuses a deliberately edited ciphertext even when the checksum is fixed up', async () => {
    const { createHash } = await import('node:crypto')
    await new SoftwareKeyStore({ dir, passphrase: 'pw', ...FAST }).generate('k', 'P-256')
    const path = join(dir, 'k.key')
    const bytes = await readFile(path)
    bytes[60] ^= 0x01
    createHash('sha256').update(bytes.subarray(0, bytes.length - 32)).digest().copy(bytes, bytes.length - 32)
    await writeFile(path, bytes)
    const err = await rejects(loadKeyFile(path, 'pw'))
    expect(err).to.have.property('code', 'TAMPERED_KEY_FILE')
  })

  it('refuses a truncated file with TAMPERED_KEY_FILE', async () => {
    await new SoftwareKeyStore({ dir, passphrase: 'pw', ...FAST }).generate('k', 'P-256')
    const path = join(dir, 'k.key')
    const bytes = await readFile(path)
    for (const len of [0, 20, bytes.length - 1]) {
      await writeFile(path, bytes.subarray(0, len))
      const err = await rejects(loadKeyFile(path, 'pw'))
      expect(err, `length ${len}`).to.have.property('code', 'TAMPERED_KEY_FILE')
    }
  })

  it('refuses to write without a passphrase (NO_PASSPHRASE) and writes nothing', async () => {
    const err = await rejects(new SoftwareKeyStore({ dir }).generate('k', 'P-256'))
    expect(err).to.have.property('code', 'NO_PASSPHRASE')
    const err2 = await rejects(generateKeyFile(join(dir, 'x.key'), 'P-256', ''))
    expect(err2).to.have.property('code', 'NO_PASSPHRASE')
    expect(await new SoftwareKeyStore({ dir }).has('k')).to.equal(false)
    await rejects(stat(join(dir, 'x.key')))
  })

  it('refuses to overwrite an existing key (KEY_EXISTS)', async () => {
    const store = new SoftwareKeyStore({ dir, passphrase: 'pw', ...FAST })
    const first = await store.generate('k', 'P-256')
    const err = await rejects(store.generate('k', 'Ed25519'))
    expect(err).to.have.property('code', 'KEY_EXISTS')
    const again = await store.load('k')
    expect(Buffer.from(again.publicKeySpki).equals(Buffer.from(first.publicKeySpki))).to.equal(true)
  })

  it('never exports a key that was not created exportable', async () => {
    const store = new SoftwareKeyStore({ dir, passphrase: 'pw', ...FAST })
    const k = await store.generate('k', 'Ed25519')
    const err = await rejects(k.exportPrivateKey())
    expect(err).to.have.property('code', 'NOT_EXPORTABLE')
    const host = await store.generate('host', 'Ed25519', { exportable: true })
    const reloaded = await store.load('host')
    expect((await reloaded.exportPrivateKey()).length).to.be.greaterThan(32)
    expect(host.exportable).to.equal(true)
  })

  it('refuses labels that are not plain file names (BAD_LABEL)', async () => {
    const err = await rejects(new SoftwareKeyStore({ dir, passphrase: 'pw' }).load('../etc/passwd'))
    expect(err).to.have.property('code', 'BAD_LABEL')
  })

  it('deletes a key', async () => {
    const store = new SoftwareKeyStore({ dir, passphrase: 'pw', ...FAST })
    await store.generate('k', 'P-256')
    await store.delete('k')
    expect(await store.has('k')).to.equal(false)
    expect(await rejects(store.load('k'))).to.have.property('code', 'KEY_NOT_FOUND')
  })
})

describe('passphrase sources', () => {
  it('takes the environment variable, and a file over it, dropping one trailing newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dadm-pass-'))
    try {
      expect(await resolvePassphrase({ env: { [PASSPHRASE_ENV]: 'from-env' } })).to.equal('from-env')
      await writeFile(join(dir, 'p'), 'from-file\n', { mode: 0o600 })
      expect(await resolvePassphrase({ env: { [PASSPHRASE_ENV]: 'from-env' }, passphraseFile: join(dir, 'p') })).to.equal('from-file')
      const err = await rejects(resolvePassphrase({ passphraseFile: join(dir, 'missing') }))
      expect(err).to.have.property('code', 'PASSPHRASE_FILE_UNREADABLE')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses with NO_PASSPHRASE when neither is set', async () => {
    const err = await rejects(requirePassphrase({ env: {} }))
    expect(err).to.have.property('name', 'KeyStoreError')
    expect(err).to.have.property('code', 'NO_PASSPHRASE')
  })
})
