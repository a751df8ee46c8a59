import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { ANOMALY_DEFAULT_MAX_SKEW_MS, encodeEnvelope, encodePayload, signAnomalyOffline, validateAnomaly } from '../../protocols/anomaly-gossip/index.ts'
import { main } from '../../src/cli/main.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { nodePaths, readNodeFile } from '../../src/daemon/enroll/node-files.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { Pkcs11KeyStore } from '../../src/identity/pkcs11-key-store.ts'
import { initSoftHsmToken, softHsmMissing } from '../../src/identity/softhsm-token.ts'
import { originChain } from '../../src/node/origin-chain.ts'
import { ChainVerifier } from '../../src/pki/chain-verifier.ts'
import { generateToken } from '../../src/store/token-store.ts'
import { pemToDerAll } from '../../src/util/pem.ts'
import { startService } from '../enrollment/harness.ts'
import { loopbackOptions, waitForEvent } from '../node/fixtures.ts'
import { startEnrolledNode } from './enrolled-node.ts'
import type { AuthenticatedPeer } from '../../protocols/auth/index.ts'
import type { SoftHsmToken } from '../../src/identity/softhsm-token.ts'
import type { Service } from '../enrollment/harness.ts'

const PIN = '4321'
const TOKEN = 'dadm-e2e'
const NODE_PASS = 'node passphrase'

/**
 * End to end with hardware keys: a node whose identity key lives in SoftHSM2 enrolls
 * through the real HTTP enrollment service, joins a two-node mesh over QUIC and passes auth (its
 * transcript signature made in the token), and its token key delegates the gossip key that signs
 * its anomaly envelopes. That the key cannot leave the token is shown in
 * depth in test/identity/pkcs11-key-store.spec.ts ("never exports the private key: ..."); here
 * the node's own key is checked through the interface and the token's attributes once more.
 */
describe('e2e: a node with its identity key in SoftHSM2 enrolls and joins a QUIC mesh', function () {
  let base: string
  let token: SoftHsmToken
  let svc: Service
  let savedConf: string | undefined
  const stops: Array<() => Promise<void>> = []

  before(async function () {
    // Skip rule: needs SoftHSM2 (Debian package softhsm2); CI installs it.
    if (await softHsmMissing() != null) { this.skip() }
    base = await mkdtemp(join(tmpdir(), 'dadm-e2e-hsm-'))
    token = await initSoftHsmToken({ dir: join(base, 'softhsm'), label: TOKEN, pin: PIN, soPin: '8765' })
    // SoftHSM2 reads its token list when the module is first loaded: make every token now
    await initSoftHsmToken({ dir: join(base, 'softhsm'), label: 'dadm-cli', pin: PIN, soPin: '8765' })
    await initSoftHsmToken({ dir: join(base, 'softhsm'), label: 'dadm-refused', pin: PIN, soPin: '8765' })
    savedConf = process.env.SOFTHSM2_CONF
    process.env.SOFTHSM2_CONF = token.conf
    svc = await startService()
  })

  after(async () => {
    for (const stop of stops.reverse()) { await stop() }
    await svc?.cleanup()
    if (savedConf == null) { delete process.env.SOFTHSM2_CONF } else { process.env.SOFTHSM2_CONF = savedConf }
    if (base != null) { await rm(base, { recursive: true, force: true }) }
  })

  const tokenFor = async (nodeId: string): Promise<string> => (await svc.service.createToken({ ttlMs: 600_000, uses: 1, nodeId }, svc.clock.now())).token

  it('enrolls with --key-store auto (picks the token), authenticates over QUIC, and the key never leaves the token', async () => {
    // 1. node A: `--key-store auto` with a PIN file finds the token; node.json records where the key is
    const pinFile = join(base, 'pin')
    await writeFile(pinFile, PIN + '\n', { mode: 0o600 })
    const dirA = join(base, 'hsm-a')
    const enrolledA = await enrollNode({
      dir: dirA,
      caUrl: svc.url,
      caCertPem: svc.rootPem,
      token: await tokenFor('hsm-a'),
      nodeId: 'hsm-a',
      passphrase: NODE_PASS,
      scryptLogN: MIN_SCRYPT_LOG_N,
      keyStore: 'auto',
      keyStoreOptions: { pkcs11Module: token.module, pkcs11Token: TOKEN, pkcs11PinFile: pinFile, tpmDevice: join(base, 'no-tpm') }
    })
    expect(enrolledA.keyStore.request.store).to.equal('pkcs11')
    expect(enrolledA.keyStore.reason).to.include(TOKEN)
    expect(enrolledA.node.identity_key).to.deep.include({ store: 'pkcs11', module: token.module, token_label: TOKEN, pin_file: pinFile, algorithm: 'P-256' })
    expect(enrolledA.node.attestation).to.equal(undefined)
    // 2. node B: the software key store
    const dirB = join(base, 'sw-b')
    await enrollNode({ dir: dirB, caUrl: svc.url, caCertPem: svc.rootPem, token: await tokenFor('sw-b'), nodeId: 'sw-b', passphrase: NODE_PASS, scryptLogN: MIN_SCRYPT_LOG_N })

    // 3. both start from their directories; A's identity key comes back from the token
    const A = await startEnrolledNode(dirA, { passphrase: NODE_PASS }, loopbackOptions('quic'))
    stops.push(A.stop)
    const B = await startEnrolledNode(dirB, { passphrase: NODE_PASS }, loopbackOptions('quic'))
    stops.push(B.stop)
    expect(A.identity.backend).to.equal('pkcs11')
    expect(B.identity.backend).to.equal('software')

    // 4. the key in the token is not exportable, by our interface or by the token
    const notExported = await A.identity.key.exportPrivateKey().then(() => undefined, (e: unknown) => e)
    expect(notExported).to.include({ name: 'KeyStoreError', code: 'NOT_EXPORTABLE' })
    const p11 = (A.identity.key.signer().privateKey as unknown as { p11Object: { getAttribute(a: object): object } }).p11Object
    expect(p11.getAttribute({ sensitive: null, extractable: null, neverExtractable: null })).to.deep.equal({ sensitive: true, extractable: false, neverExtractable: true })

    // 5. B dials A over QUIC: both ends authenticate each other (A signs its transcript in the token)
    const atA = waitForEvent<AuthenticatedPeer>(A.node, 'peer:authenticated')
    const peer = await B.node.dial(A.node.getMultiaddrs()[0])
    expect(peer).to.include({ nodeId: 'hsm-a', transport: 'quic' })
    expect(Buffer.from(peer.spki).equals(Buffer.from(A.identity.key.publicKeySpki))).to.equal(true)
    expect((await atA).nodeId).to.equal('sw-b')
    expect(A.node.isAuthenticated(B.node.peerId)).to.equal(true)

    // 6. A's token key delegates a gossip key (one signature in the token per epoch), which signs
    // an anomaly envelope; a validator that trusts the mesh root accepts it, and refuses the
    // same envelope with another payload (BAD_ORIGIN_SIGNATURE).
    let tokenSigns = 0
    const signer = { algorithm: A.identity.key.algorithm, spki: A.identity.key.publicKeySpki, sign: async (d: Uint8Array) => { tokenSigns++; return A.identity.key.sign(d) } }
    const paths = nodePaths(dirA)
    const chainA = [...pemToDerAll(await readFile(paths.cert, 'utf8'), 'CERTIFICATE'), ...pemToDerAll(await readFile(paths.chain, 'utf8'), 'CERTIFICATE')]
    const roots = pemToDerAll(await readFile(paths.root, 'utf8'), 'CERTIFICATE')
    const { bytes, envelope } = await signAnomalyOffline(Date.now(), { type: 'sha256', value: 'c'.repeat(64) }, { chain: originChain(chainA), signer })
    expect(tokenSigns).to.equal(1)
    const ctx = { verifier: new ChainVerifier({ roots }), seen: () => undefined, maxSkewMs: ANOMALY_DEFAULT_MAX_SKEW_MS }
    const v = validateAnomaly(Date.now(), { envelopeBytes: bytes, from: B.node.peerId.toString() }, ctx)
    expect(v.action, JSON.stringify(v)).to.equal('accept')
    if (v.action === 'accept') { expect(v.origin).to.deep.equal({ nodeId: 'hsm-a', peerId: A.node.peerId.toString() }) }
    const tampered = encodeEnvelope({ ...envelope, payload: encodePayload({ type: 'sha256', value: 'd'.repeat(64) }) })
    expect(validateAnomaly(Date.now(), { envelopeBytes: tampered, from: B.node.peerId.toString() }, ctx)).to.include({ action: 'reject', code: 'BAD_ORIGIN_SIGNATURE' })
  })

  it('key-store-auto-default: `node enroll` without --key-store (auto) picks the token and says so; a bad --key-store is a usage error', async () => {
    let out = ''
    let err = ''
    const io = { stdout: { write: (s: string) => { out += s } }, stderr: { write: (s: string) => { err += s } }, env: { DADM_MESH_PASSPHRASE: NODE_PASS, DADM_MESH_PKCS11_PIN: PIN } }
    const caFile = join(base, 'root.pem')
    await writeFile(caFile, svc.rootPem)
    const dir = join(base, 'cli-node')
    const args = ['node', 'enroll', '--dir', dir, '--ca-url', svc.url, '--ca-cert', caFile, '--token', await tokenFor('cli-hsm'), '--node-id', 'cli-hsm']
    const code = await main([...args, '--pkcs11-module', token.module, '--pkcs11-token', 'dadm-cli'], io)
    expect(code, err).to.equal(0)
    expect(out).to.include('key store: auto chose pkcs11: token "dadm-cli"')
    expect(out).to.include('asking for node_id cli-hsm (from --node-id)')
    expect(out).to.include('identity key in pkcs11')
    const ref = (await readNodeFile(dir))?.identity_key
    expect(ref).to.deep.include({ store: 'pkcs11', token_label: 'dadm-cli' })
    expect(ref).to.not.have.property('pin_file')
    expect(await main([...args, '--key-store', 'floppy'], io)).to.equal(2)
  })

  it('a refused enrollment takes the key it made out of the token again, and leaves no NODEDIR', async () => {
    const dir = join(base, 'hsm-refused')
    const err = await enrollNode({
      dir,
      caUrl: svc.url,
      caCertPem: svc.rootPem,
      token: generateToken(), // unknown to the CA: TOKEN_REJECTED
      nodeId: 'hsm-refused',
      passphrase: NODE_PASS,
      scryptLogN: MIN_SCRYPT_LOG_N,
      keyStore: 'pkcs11',
      keyStoreOptions: { pkcs11Module: token.module, pkcs11Token: 'dadm-refused', pin: PIN }
    }).then(() => undefined, (e: unknown) => e)
    expect(err).to.include({ name: 'NodeEnrollError', code: 'REFUSED', serverCode: 'TOKEN_REJECTED' })
    expect(await stat(dir).then(() => true, () => false)).to.equal(false)
    const store = await Pkcs11KeyStore.open({ module: token.module, tokenLabel: 'dadm-refused', pin: PIN })
    try {
      expect(await store.has('identity')).to.equal(false)
    } finally {
      await store.close()
    }
  })
})
