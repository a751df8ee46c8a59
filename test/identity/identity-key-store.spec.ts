import { createPublicKey, verify } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { DEFAULT_ATTESTATION_POLICY } from '../../src/attestation/policy.ts'
import { Swtpm, swtpmMissing } from '../../src/attestation/swtpm.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { chooseKeyStore } from '../../src/identity/choose-key-store.ts'
import { openIdentityKeyStore, prepareIdentityKeyStore } from '../../src/identity/identity-key-store.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { findTpm2Pkcs11Module } from '../../src/identity/pkcs11-module.ts'
import { initSoftHsmToken, softHsmMissing } from '../../src/identity/softhsm-token.ts'
import { rejects } from '../ca/helpers.ts'
import { startService } from '../enrollment/harness.ts'
import type { KeyHandle } from '../../src/identity/key-store.ts'
import type { SoftHsmToken } from '../../src/identity/softhsm-token.ts'

const PIN = '5555'
const TOKEN = 'dadm-ids'
const DATA = new TextEncoder().encode('auth transcript')

function verifies (key: KeyHandle, sig: Uint8Array): boolean {
  return verify('sha256', DATA, createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' }), sig)
}

/** `node.json` -> the identity key's backend, for every backend; and `--key-store auto`. */
describe('identity key stores as node.json names them', function () {
  let base: string

  before(async () => { base = await mkdtemp(join(tmpdir(), 'dadm-idks-')) })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  it('software: prepared at enrollment, opened again from the record', async () => {
    const dir = join(base, 'sw')
    const env = { dir, passphrase: 'p' }
    const prepared = await prepareIdentityKeyStore({ store: 'software' }, 'identity', 'Ed25519', env)
    const made = await prepared.store.generate('identity', 'Ed25519')
    expect(prepared.ref).to.deep.equal({ store: 'software', label: 'identity', algorithm: 'Ed25519' })
    const opened = await openIdentityKeyStore({ identity_key: prepared.ref }, env)
    expect(opened.backend).to.equal('software')
    expect(Buffer.from(opened.key.publicKeySpki).equals(Buffer.from(made.publicKeySpki))).to.equal(true)
    expect(await rejects(openIdentityKeyStore({ identity_key: prepared.ref }, { dir, passphrase: 'wrong' }))).to.include({ code: 'WRONG_PASSPHRASE' })
  })

  it('explicit choices are taken as asked; auto with nothing present falls back to software and says why', async () => {
    const nowhere = { pkcs11Module: join(base, 'no-module.so'), tpmDevice: join(base, 'no-tpm') }
    expect((await chooseKeyStore('software', nowhere)).request).to.deep.equal({ store: 'software' })
    expect((await chooseKeyStore('pkcs11', { pkcs11Module: '/m.so', pkcs11Token: 't' })).request).to.deep.equal({ store: 'pkcs11', module: '/m.so', tokenLabel: 't' })
    expect(await rejects(chooseKeyStore('tpm', nowhere))).to.include({ name: 'KeyStoreError', code: 'MODULE_NOT_FOUND' })
    const auto = await chooseKeyStore('auto', nowhere)
    expect(auto.request).to.deep.equal({ store: 'software' })
    expect(auto.reason).to.match(/^software: /)
    expect(auto.tpmTcti).to.equal(undefined)
  })

  describe('PKCS#11 (SoftHSM2)', function () {
    let token: SoftHsmToken
    let savedConf: string | undefined

    before(async function () {
      // Skip rule: needs SoftHSM2 (Debian package softhsm2); CI installs it.
      if (await softHsmMissing() != null) { this.skip() }
      token = await initSoftHsmToken({ dir: join(base, 'softhsm'), label: TOKEN, pin: PIN, soPin: '6666' })
      savedConf = process.env.SOFTHSM2_CONF
      process.env.SOFTHSM2_CONF = token.conf
    })

    after(() => {
      if (token == null) { return }
      if (savedConf == null) { delete process.env.SOFTHSM2_CONF } else { process.env.SOFTHSM2_CONF = savedConf }
    })

    it('records module, token and PIN source (never the PIN) and opens the key again from them', async () => {
      const dir = join(base, 'hsm')
      const pinFile = join(base, 'hsm.pin')
      await writeFile(pinFile, PIN + '\n', { mode: 0o600 })
      const prepared = await prepareIdentityKeyStore({ store: 'pkcs11', module: token.module, tokenLabel: TOKEN, pinFile }, 'id-1', 'P-256', { dir })
      const made = await prepared.store.generate('id-1', 'P-256')
      await prepared.close()
      expect(prepared.ref).to.deep.equal({ store: 'pkcs11', label: 'id-1', algorithm: 'P-256', module: token.module, token_label: TOKEN, pin_file: pinFile })
      expect(JSON.stringify(prepared.ref)).to.not.include(PIN)
      const opened = await openIdentityKeyStore({ identity_key: prepared.ref }, { dir })
      try {
        expect(opened.backend).to.equal('pkcs11')
        expect(Buffer.from(opened.key.publicKeySpki).equals(Buffer.from(made.publicKeySpki))).to.equal(true)
        expect(verifies(opened.key, await opened.key.sign(DATA))).to.equal(true)
      } finally {
        await opened.close()
      }
      // the PIN from the environment variable the record names, and a wrong one
      const byEnv = { ...prepared.ref, pin_file: undefined, pin_env: 'MY_PIN' }
      delete byEnv.pin_file
      expect(await rejects(openIdentityKeyStore({ identity_key: byEnv }, { dir, env: {} }))).to.include({ code: 'NO_PIN' })
      expect(await rejects(openIdentityKeyStore({ identity_key: byEnv }, { dir, env: { MY_PIN: '0000' } }))).to.include({ code: 'WRONG_PIN' })
      const viaEnv = await openIdentityKeyStore({ identity_key: byEnv }, { dir, env: { MY_PIN: PIN } })
      await viaEnv.close()
      // Ed25519 is not a token algorithm
      expect(await rejects(prepareIdentityKeyStore({ store: 'pkcs11', module: token.module, tokenLabel: TOKEN }, 'x', 'Ed25519', { dir }))).to.include({ code: 'UNSUPPORTED_ALGORITHM' })
    })

    it('auto picks the token when the PIN source opens it, and software when it does not', async () => {
      const noTpm = join(base, 'no-tpm')
      const found = await chooseKeyStore('auto', { pkcs11Module: token.module, env: { DADM_MESH_PKCS11_PIN: PIN }, tpmDevice: noTpm })
      expect(found.request).to.deep.include({ store: 'pkcs11', module: token.module, tokenLabel: TOKEN })
      expect(found.reason).to.include(TOKEN)
      const noPin = await chooseKeyStore('auto', { pkcs11Module: token.module, env: {}, tpmDevice: noTpm })
      expect(noPin.request.store).to.equal('software')
    })
  })

  describe('TPM through tpm2-pkcs11 (swtpm)', function () {
    const ENV = ['TPM2_PKCS11_TCTI', 'TPM2_PKCS11_STORE', 'TPM2_PKCS11_LOG_LEVEL'] as const
    const saved: Record<string, string | undefined> = {}
    let swtpm: Swtpm | undefined

    before(async function () {
      // Skip rule: needs swtpm, tpm2-tools and tpm2-pkcs11 (Debian packages swtpm, tpm2-tools,
      // libtpm2-pkcs11-1); CI installs them.
      if (await swtpmMissing() != null || findTpm2Pkcs11Module() == null) { this.skip() }
      for (const k of ENV) { saved[k] = process.env[k] }
      process.env.TPM2_PKCS11_LOG_LEVEL = '0'
      await mkdir(join(base, 'tpm-state'))
      swtpm = await Swtpm.start({ stateDir: join(base, 'tpm-state') })
    })

    after(async () => {
      await swtpm?.stop()
      for (const k of ENV) { if (saved[k] == null) { delete process.env[k] } else { process.env[k] = saved[k] } }
    })

    it('`node enroll --key-store tpm`: a token is made on the TPM, the key created in it, and the enrollment carries a quote', async () => {
      // the CA verifies quotes (default policy: PCRs 0-7 covered, EK known, restricted AK)
      const svc = await startService({ service: { attestationPolicy: DEFAULT_ATTESTATION_POLICY } })
      try {
        const dir = join(base, 'tpm-node')
        const { token } = await svc.service.createToken({ ttlMs: 600_000, uses: 1 }, svc.clock.now())
        const { node, keyStore } = await enrollNode({
          dir,
          caUrl: svc.url,
          caCertPem: svc.rootPem,
          token,
          nodeId: 'tpm-key-node',
          passphrase: 'p',
          scryptLogN: MIN_SCRYPT_LOG_N,
          keyStore: 'tpm',
          keyStoreOptions: { tpmTcti: swtpm?.tcti, env: { DADM_MESH_PKCS11_PIN: PIN } }
        })
        expect(keyStore.request).to.deep.include({ store: 'tpm', tcti: swtpm?.tcti })
        expect(node.identity_key).to.deep.include({ store: 'tpm', tcti: swtpm?.tcti, pkcs11_store: 'tpm2-pkcs11', token_label: 'dadm-mesh' })
        expect(node.attestation).to.deep.equal({ tcti: swtpm?.tcti, dir: 'tpm' })
        expect(await svc.service.deviceOf('tpm-key-node')).to.have.property('ekSpki')
        const opened = await openIdentityKeyStore(node, { dir, env: { DADM_MESH_PKCS11_PIN: PIN } })
        try {
          expect(opened.backend).to.equal('tpm')
          expect(verifies(opened.key, await opened.key.sign(DATA))).to.equal(true)
          expect(await rejects(opened.key.exportPrivateKey())).to.include({ code: 'NOT_EXPORTABLE' })
        } finally {
          await opened.close()
        }
      } finally {
        await svc.cleanup()
      }
    })
  })
})
