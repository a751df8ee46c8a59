import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { initSoftHsmToken, softHsmMissing } from '../../src/identity/softhsm-token.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../src/identity/software-key.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { somePeerId } from './csr-fixtures.ts'
import { NOW, rejects } from './helpers.ts'
import type { SoftHsmToken } from '../../src/identity/softhsm-token.ts'

const PIN = '1111'
const TOKEN = 'dadm-ca'

async function nodeCsr (nodeId: string): Promise<Uint8Array> {
  const key = await softwareKeyFromPkcs8('n', 'P-256', await generatePkcs8('P-256'), false)
  return createCsr(key, { nodeId, peerId: somePeerId() })
}

/** `ca init --key-store pkcs11`: the CA's own keys live in the token; certificates and CRLs are signed there. */
describe('mesh CA with its keys in a PKCS#11 token (SoftHSM2)', function () {
  let base: string
  let token: SoftHsmToken
  let savedConf: string | undefined

  before(async function () {
    // Skip rule: needs SoftHSM2 (Debian package softhsm2); CI installs it.
    if (await softHsmMissing() != null) { this.skip() }
    base = await mkdtemp(join(tmpdir(), 'dadm-ca-hsm-'))
    token = await initSoftHsmToken({ dir: join(base, 'softhsm'), label: TOKEN, pin: PIN, soPin: '2222' })
    savedConf = process.env.SOFTHSM2_CONF
    process.env.SOFTHSM2_CONF = token.conf
  })

  after(async () => {
    if (base == null) { return }
    if (savedConf == null) { delete process.env.SOFTHSM2_CONF } else { process.env.SOFTHSM2_CONF = savedConf }
    await rm(base, { recursive: true, force: true })
  })

  it('creates root and issuing keys in the token (no key files), issues and signs CRLs there, and reopens with the PIN', async () => {
    const dir = join(base, 'ca1')
    const ca = await MeshCa.init({ dir, passphrase: undefined, now: NOW, pkcs11: { module: token.module, tokenLabel: TOKEN, pin: PIN } })
    let serial: string
    try {
      const config = JSON.parse(await readFile(join(dir, 'ca.json'), 'utf8'))
      expect(config.key_store).to.deep.equal({ type: 'pkcs11', module: token.module, token_label: TOKEN })
      expect(await stat(join(dir, 'keys')).then(() => true, () => false)).to.equal(false)
      const issued = await ca.issue({ csr: await nodeCsr('hsm-ca-node'), now: NOW, nodeId: 'hsm-ca-node' })
      serial = issued.serialHex
      const leaf = new X509Certificate(Buffer.from(issued.der))
      expect(leaf.verify(new X509Certificate(Buffer.from(ca.issuingCertificate.der)).publicKey)).to.equal(true)
      await ca.revoke({ serialHex: serial, now: NOW })
      const crl = parseCrl((await ca.buildCrl(NOW)).der)
      expect(crl.revoked.has(serial)).to.equal(true)
    } finally {
      await ca.close()
    }
    // reopened: the PIN is needed (no passphrase), a wrong one is refused
    expect(await rejects(MeshCa.open({ dir, passphrase: undefined, pkcs11: { pin: '9999' } }))).to.include({ name: 'KeyStoreError', code: 'WRONG_PIN' })
    expect(await rejects(MeshCa.open({ dir, passphrase: undefined, pkcs11: { env: {} } }))).to.include({ name: 'KeyStoreError', code: 'NO_PIN' })
    const again = await MeshCa.open({ dir, passphrase: undefined, pkcs11: { pin: PIN } })
    try {
      const issued = await again.issue({ csr: await nodeCsr('hsm-ca-node-2'), now: NOW, nodeId: 'hsm-ca-node-2' })
      expect(new X509Certificate(Buffer.from(issued.der)).verify(new X509Certificate(Buffer.from(again.issuingCertificate.der)).publicKey)).to.equal(true)
    } finally {
      await again.close()
    }
  })

  it('`ca init --key-store pkcs11` on the command line, PIN from a file; `ca issue` then signs in the token', async () => {
    const dir = join(base, 'ca2')
    const pinFile = join(base, 'ca.pin')
    await writeFile(pinFile, PIN + '\n', { mode: 0o600 })
    let out = ''
    let err = ''
    const io = { stdout: { write: (s: string) => { out += s } }, stderr: { write: (s: string) => { err += s } }, env: {}, now: () => NOW }
    // 1. the token of the first test holds that CA's keys: a second CA there collides on "root" (KEY_EXISTS)
    const clash = await main(['ca', 'init', '--dir', dir, '--key-store', 'pkcs11', '--pkcs11-module', token.module, '--pkcs11-token', TOKEN, '--pkcs11-pin-file', pinFile], io)
    expect(clash, err).to.equal(1)
    expect(err).to.include('KEY_EXISTS')
    // 2. a fresh token for this CA
    const t2 = await initSoftHsmToken({ dir: join(base, 'softhsm'), label: 'dadm-ca-2', pin: PIN, soPin: '2222' })
    const dir3 = join(base, 'ca3')
    err = ''
    const code = await main(['ca', 'init', '--dir', dir3, '--key-store', 'pkcs11', '--pkcs11-module', t2.module, '--pkcs11-token', 'dadm-ca-2', '--pkcs11-pin-file', pinFile], io)
    expect(code, err).to.equal(0)
    expect(out).to.include('keys in PKCS#11 token dadm-ca-2')
    const csrPath = join(base, 'n.csr')
    const { derToPem } = await import('../../src/util/pem.ts')
    await writeFile(csrPath, derToPem(await nodeCsr('cli-hsm-node'), 'CERTIFICATE REQUEST'))
    err = ''
    out = ''
    const issue = await main(['ca', 'issue', '--dir', dir3, '--csr', csrPath], io)
    expect(issue, err).to.equal(0)
    expect(out).to.include('-----BEGIN CERTIFICATE-----')
    // a software-only command line refuses a bad --key-store
    expect(await main(['ca', 'init', '--dir', join(base, 'ca4'), '--key-store', 'tpm'], io)).to.equal(2)
  })
})
