import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { readNodeFile } from '../../src/daemon/enroll/node-files.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { initSoftHsmToken, softHsmMissing } from '../../src/identity/softhsm-token.ts'
import { createLifecycleMesh, PASS, startLifecycleRuntime } from '../daemon/lifecycle/harness.ts'
import { eventually } from '../node/fixtures.ts'
import type { NodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import type { LifecycleMesh } from '../daemon/lifecycle/harness.ts'

const PIN = '2468'
const TOKEN = 'dadm-rotate'

/**
 * Rotation with a hardware key: a node whose identity key lives in a PKCS#11 token (SoftHSM2)
 * rotates over mutual TLS (through a session certificate its token-resident key signs: the key
 * never leaves the token), the new key is created in the token under a new label, the old one
 * stays there until its certificate expires, and its live session with a software-key node moves
 * to the new certificate.
 */
describe('e2e: rotation of an identity key held in SoftHSM2', function () {
  let mesh: LifecycleMesh
  let savedConf: string | undefined
  const runtimes: NodeRuntime[] = []

  before(async function () {
    // Skip rule: needs SoftHSM2 (Debian package softhsm2); CI installs it.
    if (await softHsmMissing() != null) { this.skip() }
    mesh = await createLifecycleMesh('hsm-rot', { speed: 1, certSeconds: 3600 })
    const token = await initSoftHsmToken({ dir: join(mesh.base, 'softhsm'), label: TOKEN, pin: PIN, soPin: '1357' })
    savedConf = process.env.SOFTHSM2_CONF
    process.env.SOFTHSM2_CONF = token.conf
    const pinFile = join(mesh.base, 'pin')
    await writeFile(pinFile, PIN + '\n', { mode: 0o600 })
    const dir = join(mesh.base, 'hsm-node')
    const { token: t } = await mesh.svc.service.createToken({ ttlMs: 600_000, uses: 1 }, mesh.clock.now())
    await enrollNode({ dir, caUrl: mesh.svc.url, caCertPem: mesh.svc.rootPem, token: t, nodeId: 'hsm-node', passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, now: mesh.clock.now, keyStore: 'pkcs11', keyStoreOptions: { pkcs11Module: token.module, pkcs11Token: TOKEN, pkcs11PinFile: pinFile } })
    runtimes.push(await startLifecycleRuntime(dir, 120, mesh.clock))
    runtimes.push(await startLifecycleRuntime(await mesh.enroll('sw-node'), 121, mesh.clock))
  })

  after(async () => {
    for (const r of runtimes.splice(0)) { await r.stop() }
    await mesh?.cleanup()
    if (savedConf == null) { delete process.env.SOFTHSM2_CONF } else { process.env.SOFTHSM2_CONF = savedConf }
  })

  it('rotates inside the token over mutual TLS, keeps the old key until expiry, and moves the live session', async () => {
    const [hsm, sw] = runtimes
    expect(hsm.lifecycle.credentials.current().key.backend).to.equal('pkcs11')
    await hsm.node.dial(sw.node.getMultiaddrs()[0])
    const before = hsm.lifecycle.credentials.current()
    const r = await hsm.lifecycle.rotation.rotateNow('manual')
    expect(r).to.include({ previousSerialHex: before.leaf.serialHex, renewed: false })
    const after = hsm.lifecycle.credentials.current()
    expect(after.key.backend).to.equal('pkcs11')
    expect(after.label).to.not.equal(before.label)
    const notExported = await after.key.exportPrivateKey().then(() => undefined, (e: unknown) => e)
    expect(notExported).to.include({ name: 'KeyStoreError', code: 'NOT_EXPORTABLE' })
    // Both keys in the token until the old certificate expires.
    expect(await hsm.dir.keyStore.has(before.label)).to.equal(true)
    expect(await hsm.dir.keyStore.has(after.label)).to.equal(true)
    expect((await readNodeFile(hsm.dir.dir))?.identity_key).to.deep.include({ store: 'pkcs11', label: after.label })
    // The software node's session now rests on the new certificate (re-auth signed in the token).
    await eventually(() => sw.node.peers.get(hsm.node.peerId.toString())?.certSerial === after.leaf.serialHex, 10_000)
    expect(sw.node.isAuthenticated(hsm.node.peerId)).to.equal(true)
  })
})
