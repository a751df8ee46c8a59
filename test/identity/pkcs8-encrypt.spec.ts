import { execFile } from 'node:child_process'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { encryptPkcs8Pem, PBKDF2_ITERATIONS } from '../../src/identity/pkcs8-encrypt.ts'
import { generatePkcs8 } from '../../src/identity/software-key.ts'

const execFileP = promisify(execFile)

async function rejects (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC)', function () {
  let base: string
  before(async () => { base = await mkdtemp(join(tmpdir(), 'dadm-pkcs8-')) })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  it('node:crypto reads it back with the passphrase (same key), and refuses a wrong one', async () => {
    const pkcs8 = await generatePkcs8('P-256')
    const pem = await encryptPkcs8Pem(pkcs8, 'a passphrase of some length')
    expect(pem).to.match(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/)
    const back = createPrivateKey({ key: pem, passphrase: 'a passphrase of some length' })
    const orig = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
    expect(createPublicKey(back).export({ format: 'der', type: 'spki' })).to.deep.equal(createPublicKey(orig).export({ format: 'der', type: 'spki' }))
    expect(() => createPrivateKey({ key: pem, passphrase: 'a passphrase of some lengtH' })).to.throw()
  })

  it('a non-ASCII passphrase is used as its UTF-8 bytes, as openssl reads it from a file', async function () {
    // Written rule: the outside checker is the system's openssl.
    try { await execFileP('openssl', ['version']) } catch { this.skip() }
    const pass = 'pässwörd ünïcode ☃'
    const keyFile = join(base, 'k.pem')
    const passFile = join(base, 'k.pass')
    await writeFile(keyFile, await encryptPkcs8Pem(await generatePkcs8('Ed25519'), pass))
    await writeFile(passFile, pass + '\n')
    await chmod(passFile, 0o600)
    await execFileP('openssl', ['pkey', '-in', keyFile, '-passin', `file:${passFile}`, '-noout'], { timeout: 30_000 })
  })

  it('refuses fewer than 600,000 iterations (UNSUPPORTED_KEY_FILE) and an empty passphrase (NO_PASSPHRASE)', async () => {
    const pkcs8 = await generatePkcs8('P-256')
    expect(await rejects(encryptPkcs8Pem(pkcs8, 'long enough passphrase', { iterations: PBKDF2_ITERATIONS - 1 }))).to.include({ name: 'KeyStoreError', code: 'UNSUPPORTED_KEY_FILE' })
    expect(await rejects(encryptPkcs8Pem(pkcs8, ''))).to.include({ name: 'KeyStoreError', code: 'NO_PASSPHRASE' })
  })
})
