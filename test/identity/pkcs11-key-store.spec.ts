import { createPublicKey, verify, X509Certificate } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import * as graphene from 'graphene-pk11'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { parseCsr } from '../../src/ca/csr.ts'
import { Pkcs11KeyStore } from '../../src/identity/pkcs11-key-store.ts'
import { initSoftHsmToken, softHsmMissing } from '../../src/identity/softhsm-token.ts'
import { somePeerId } from '../ca/csr-fixtures.ts'
import { NOW, rejects, tempCa } from '../ca/helpers.ts'
import type { KeyHandle } from '../../src/identity/key-store.ts'
import type { SoftHsmToken } from '../../src/identity/softhsm-token.ts'

const PIN = '1234'
const SO_PIN = '5678'
const TOKEN = 'dadm-test'
const CKR_ATTRIBUTE_SENSITIVE = 0x11
const CKR_KEY_UNEXTRACTABLE = 0x6a

function verifiesDer (key: KeyHandle, data: Uint8Array, sig: Uint8Array): boolean {
  const pub = createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' })
  return verify('sha256', data, pub, sig)
}

describe('PKCS#11 key store (SoftHSM2)', function () {
  let base: string
  let token: SoftHsmToken
  let savedConf: string | undefined
  let store: Pkcs11KeyStore | undefined

  before(async function () {
    // Skip rule: the SoftHSM2 token is a real outside part; without the Debian package softhsm2
    // there is nothing to test against. CI installs it (scripts/install-system-deps.sh).
    const missing = await softHsmMissing()
    if (missing != null) {
      this.skip()
    }
    base = await mkdtemp(join(tmpdir(), 'dadm-softhsm-'))
    token = await initSoftHsmToken({ dir: base, label: TOKEN, pin: PIN, soPin: SO_PIN })
    savedConf = process.env.SOFTHSM2_CONF
    process.env.SOFTHSM2_CONF = token.conf
  })

  afterEach(async () => {
    await store?.close()
    store = undefined
  })

  after(async () => {
    if (base == null) { return }
    if (savedConf == null) { delete process.env.SOFTHSM2_CONF } else { process.env.SOFTHSM2_CONF = savedConf }
    await rm(base, { recursive: true, force: true })
  })

  async function open (): Promise<Pkcs11KeyStore> {
    store = await Pkcs11KeyStore.open({ module: token.module, tokenLabel: TOKEN, pin: PIN })
    return store
  }

  it('creates a P-256 key in the token and signs in X.509 (DER) form', async () => {
    const s = await open()
    expect(s.info).to.include({ tokenLabel: TOKEN, backend: 'pkcs11' })
    const key = await s.generate('sign-test', 'P-256')
    expect(key).to.include({ backend: 'pkcs11', algorithm: 'P-256', exportable: false })
    const data = new TextEncoder().encode('auth transcript')
    const sig = await key.sign(data)
    expect(sig[0]).to.equal(0x30)
    expect(verifiesDer(key, data, sig)).to.equal(true)
    expect(verifiesDer(key, new TextEncoder().encode('other'), sig)).to.equal(false)
  })

  it('signs a CSR in the token that the mesh CA issues a certificate for', async () => {
    const s = await open()
    const key = await s.generate('node-identity', 'P-256')
    const peerId = somePeerId()
    const csrDer = await createCsr(key, { nodeId: 'hsm-node-1', peerId })
    const csr = parseCsr(csrDer)
    expect(Buffer.from(csr.spki).equals(Buffer.from(key.publicKeySpki))).to.equal(true)
    const { ca, cleanup } = await tempCa()
    try {
      const issued = await ca.issue({ csr: csrDer, now: NOW, nodeId: 'hsm-node-1' })
      expect(issued).to.include({ nodeId: 'hsm-node-1', peerId })
      const cert = new X509Certificate(Buffer.from(issued.der))
      const certSpki = cert.publicKey.export({ format: 'der', type: 'spki' })
      expect(certSpki.equals(Buffer.from(key.publicKeySpki))).to.equal(true)
      expect(cert.verify(new X509Certificate(ca.issuingCertificate.der as Uint8Array).publicKey)).to.equal(true)
    } finally {
      await cleanup()
    }
  })

  it('never exports the private key: not through our interface, WebCrypto, CKA_VALUE or C_WrapKey', async () => {
    const s = await open()
    const key = await s.generate('no-export', 'P-256')
    // 1. our interface refuses before asking the token
    const err = await rejects(key.exportPrivateKey())
    expect(err).to.include({ name: 'KeyStoreError', code: 'NOT_EXPORTABLE' })
    // 2. the PKCS#11 WebCrypto refuses pkcs8 and jwk
    const { privateKey, crypto } = key.signer()
    expect(privateKey.extractable).to.equal(false)
    await rejects(crypto.subtle.exportKey('pkcs8', privateKey))
    await rejects(crypto.subtle.exportKey('jwk', privateKey))
    // 3. the token itself: the object is sensitive, never extractable, and refuses its value
    const p11 = (privateKey as unknown as { p11Object: graphene.PrivateKey }).p11Object
    expect(p11.getAttribute({ sensitive: null, extractable: null, neverExtractable: null, alwaysSensitive: null, token: null }))
      .to.deep.equal({ sensitive: true, extractable: false, neverExtractable: true, alwaysSensitive: true, token: true })
    const valueErr = await rejects(() => p11.getAttribute({ value: null }))
    expect(valueErr).to.have.property('code', CKR_ATTRIBUTE_SENSITIVE)
    // 4. and it will not wrap it out under a key we hold
    const session = (crypto as unknown as { subtle: { container: { session: graphene.Session } } }).subtle.container.session
    const wrapKey = session.generateKey(graphene.KeyGenMechanism.AES, {
      class: graphene.ObjectClass.SECRET_KEY, keyType: graphene.KeyType.AES, valueLen: 32, token: false, wrap: true, encrypt: true, extractable: true
    })
    try {
      const wrapErr = await rejects(() => session.wrapKey(graphene.MechanismEnum.AES_KEY_WRAP_PAD, wrapKey, p11))
      expect(wrapErr).to.have.property('code', CKR_KEY_UNEXTRACTABLE)
    } finally {
      wrapKey.destroy()
    }
  })

  it('finds the key again after reopening, with the PIN from a file or the environment', async () => {
    const first = await open()
    const made = await first.generate('persisted', 'P-256')
    await first.close()
    const pinFile = join(base, 'pin')
    await writeFile(pinFile, PIN + '\n', { mode: 0o600 })
    store = await Pkcs11KeyStore.open({ module: token.module, tokenLabel: TOKEN, pinFile })
    const again = await store.load('persisted')
    expect(Buffer.from(again.publicKeySpki).equals(Buffer.from(made.publicKeySpki))).to.equal(true)
    const data = new Uint8Array([1, 2, 3])
    expect(verifiesDer(made, data, await again.sign(data))).to.equal(true)
    await store.close()
    store = await Pkcs11KeyStore.open({ tokenLabel: TOKEN, env: { DADM_MESH_PKCS11_PIN: PIN } })
    expect(await store.has('persisted')).to.equal(true)
  })

  it('serializes concurrent signatures and CSRs on the one session', async () => {
    const s = await open()
    const key = await s.generate('busy', 'P-256')
    const data = Array.from({ length: 24 }, (_, i) => new TextEncoder().encode(`t${i}`))
    const [sigs, csr] = await Promise.all([Promise.all(data.map(async d => key.sign(d))), createCsr(key, { nodeId: 'busy-node', peerId: somePeerId() })])
    sigs.forEach((sig, i) => expect(verifiesDer(key, data[i], sig), `signature ${i}`).to.equal(true))
    expect(parseCsr(csr).spki).to.have.length(key.publicKeySpki.length)
  })

  it('refuses a taken label (KEY_EXISTS), a missing one (KEY_NOT_FOUND) and deletes', async () => {
    const s = await open()
    await s.generate('dup', 'P-256')
    expect(await rejects(s.generate('dup', 'P-256'))).to.include({ name: 'KeyStoreError', code: 'KEY_EXISTS' })
    expect(await rejects(s.load('absent'))).to.include({ code: 'KEY_NOT_FOUND' })
    await s.delete('dup')
    expect(await s.has('dup')).to.equal(false)
    expect(await rejects(s.delete('dup'))).to.include({ code: 'KEY_NOT_FOUND' })
    expect(await rejects(s.has('../x'))).to.include({ code: 'BAD_LABEL' })
  })

  it('refuses Ed25519 (UNSUPPORTED_ALGORITHM) and exportable keys (EXPORTABLE_NOT_SUPPORTED)', async () => {
    const s = await open()
    expect(await rejects(s.generate('ed', 'Ed25519'))).to.include({ code: 'UNSUPPORTED_ALGORITHM' })
    expect(await rejects(s.generate('exp', 'P-256', { exportable: true }))).to.include({ code: 'EXPORTABLE_NOT_SUPPORTED' })
    expect(await s.has('exp')).to.equal(false)
  })

  it('refuses a wrong PIN, a missing PIN, an unknown token and a missing module with named codes', async () => {
    expect(await rejects(Pkcs11KeyStore.open({ module: token.module, tokenLabel: TOKEN, pin: '0000' }))).to.include({ name: 'KeyStoreError', code: 'WRONG_PIN' })
    expect(await rejects(Pkcs11KeyStore.open({ module: token.module, tokenLabel: TOKEN, env: {} }))).to.include({ code: 'NO_PIN' })
    expect(await rejects(Pkcs11KeyStore.open({ module: token.module, tokenLabel: 'no-such-token', pin: PIN }))).to.include({ code: 'TOKEN_NOT_FOUND' })
    expect(await rejects(Pkcs11KeyStore.open({ module: join(base, 'nope.so'), pin: PIN }))).to.include({ code: 'MODULE_NOT_FOUND' })
    expect(await rejects(Pkcs11KeyStore.open({ module: token.module, pinFile: join(base, 'missing-pin') }))).to.include({ code: 'PIN_FILE_UNREADABLE' })
  })

  it('stops signing once the store is closed (STORE_CLOSED)', async () => {
    const s = await open()
    const key = await s.generate('closing', 'P-256')
    await s.close()
    expect(await rejects(key.sign(new Uint8Array([1])))).to.include({ code: 'STORE_CLOSED' })
  })
})
