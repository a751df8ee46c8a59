import { createPublicKey, verify, X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { Swtpm, swtpmMissing } from '../../src/attestation/swtpm.ts'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { Pkcs11KeyStore } from '../../src/identity/pkcs11-key-store.ts'
import { findTpm2Pkcs11Module } from '../../src/identity/pkcs11-module.ts'
import { initPkcs11Token } from '../../src/identity/pkcs11-token-init.ts'
import { somePeerId } from '../ca/csr-fixtures.ts'
import { NOW, rejects, tempCa } from '../ca/helpers.ts'
import type * as graphene from 'graphene-pk11'

const PIN = '2468'
const SO_PIN = '1357'
const TOKEN = 'dadm-tpm'
const ENV = ['TPM2_PKCS11_TCTI', 'TPM2_PKCS11_STORE', 'TPM2_PKCS11_LOG_LEVEL'] as const

/**
 * TPM-resident identity keys on the same code path as SoftHSM2: Pkcs11KeyStore over
 * libtpm2_pkcs11.so (Debian libtpm2-pkcs11-1) talking to a swtpm. Two things in that stack
 * needed care, both handled in src/identity: graphene's Slot.initToken breaks on tpm2-pkcs11
 * (labels must be blank padded; the void return is mis-read), and tpm2-pkcs11 refuses the
 * CKA_VERIFY/CKA_ENCRYPT/CKA_DECRYPT values node-webcrypto-p11 puts in key templates.
 */
describe('PKCS#11 key store on a TPM (tpm2-pkcs11 + swtpm)', function () {
  let base: string
  let swtpm: Swtpm | undefined
  let module: string
  const saved: Record<string, string | undefined> = {}
  let store: Pkcs11KeyStore | undefined

  before(async function () {
    // Skip rule: needs swtpm + tpm2-tools and the tpm2-pkcs11 module (Debian packages swtpm,
    // tpm2-tools, libtpm2-pkcs11-1); CI installs them (scripts/install-system-deps.sh).
    const found = findTpm2Pkcs11Module()
    if (await swtpmMissing() != null || found == null) { this.skip() }
    module = found as string
    for (const k of ENV) { saved[k] = process.env[k] }
    base = await mkdtemp(join(tmpdir(), 'dadm-tpm2pkcs11-'))
    await mkdir(join(base, 'state'))
    await mkdir(join(base, 'store'))
    swtpm = await Swtpm.start({ stateDir: join(base, 'state') })
    process.env.TPM2_PKCS11_TCTI = swtpm.tcti
    process.env.TPM2_PKCS11_STORE = join(base, 'store')
    process.env.TPM2_PKCS11_LOG_LEVEL = '0' // errors only: the fresh store's schema warning is noise
    initPkcs11Token({ module, label: TOKEN, soPin: SO_PIN, pin: PIN })
  })

  afterEach(async () => {
    await store?.close()
    store = undefined
  })

  after(async () => {
    if (base == null) { return }
    for (const k of ENV) { if (saved[k] == null) { delete process.env[k] } else { process.env[k] = saved[k] } }
    await swtpm?.stop()
    await rm(base, { recursive: true, force: true })
  })

  it('creates a P-256 key in the TPM, signs, and gets a certificate from the mesh CA for a CSR signed in the TPM', async () => {
    store = await Pkcs11KeyStore.open({ module, tokenLabel: TOKEN, pin: PIN })
    expect(store.info.backend).to.equal('tpm')
    const key = await store.generate('tpm-identity', 'P-256')
    expect(key).to.include({ backend: 'tpm', algorithm: 'P-256', exportable: false })
    const data = new TextEncoder().encode('auth transcript')
    const pub = createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' })
    expect(verify('sha256', data, pub, await key.sign(data))).to.equal(true)
    const csr = await createCsr(key, { nodeId: 'tpm-node-1', peerId: somePeerId() })
    const { ca, cleanup } = await tempCa()
    try {
      const issued = await ca.issue({ csr, now: NOW, nodeId: 'tpm-node-1' })
      const cert = new X509Certificate(Buffer.from(issued.der))
      expect(cert.publicKey.export({ format: 'der', type: 'spki' }).equals(Buffer.from(key.publicKeySpki))).to.equal(true)
    } finally {
      await cleanup()
    }
  })

  it('never exports the TPM key, and finds it again after reopening', async () => {
    store = await Pkcs11KeyStore.open({ module, tokenLabel: TOKEN, pin: PIN })
    const key = await store.generate('tpm-kept', 'P-256')
    expect(await rejects(key.exportPrivateKey())).to.include({ code: 'NOT_EXPORTABLE' })
    const { privateKey, crypto } = key.signer()
    await rejects(crypto.subtle.exportKey('pkcs8', privateKey))
    const p11 = (privateKey as unknown as { p11Object: graphene.PrivateKey }).p11Object
    expect(p11.getAttribute({ sensitive: null, extractable: null })).to.deep.equal({ sensitive: true, extractable: false })
    // tpm2-pkcs11 has no CKA_VALUE for a TPM key at all (the private part exists only wrapped by
    // the TPM): CKR_ATTRIBUTE_TYPE_INVALID, where SoftHSM2 says CKR_ATTRIBUTE_SENSITIVE
    expect(await rejects(() => p11.getAttribute({ value: null }))).to.have.property('code', 0x12)
    await store.close()
    store = await Pkcs11KeyStore.open({ module, tokenLabel: TOKEN, pin: PIN })
    const again = await store.load('tpm-kept')
    expect(Buffer.from(again.publicKeySpki).equals(Buffer.from(key.publicKeySpki))).to.equal(true)
  })
})
