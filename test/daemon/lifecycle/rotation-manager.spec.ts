import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { createCsr } from '../../../src/ca/csr-builder.ts'
import { nodePaths, readNodeFile, writeFileAtomic } from '../../../src/daemon/enroll/node-files.ts'
import { renewalTime, retryDelay, ROTATION_DEFAULTS } from '../../../src/daemon/lifecycle/index.ts'
import { NodeLifecycle } from '../../../src/daemon/lifecycle/node-lifecycle.ts'
import { recordPendingKey } from '../../../src/daemon/lifecycle/node-state.ts'
import { openNodeDir } from '../../../src/daemon/runtime/node-dir.ts'
import { MIN_SCRYPT_LOG_N } from '../../../src/identity/key-file.ts'
import { SoftwareKeyStore } from '../../../src/identity/software-key-store.ts'
import { eventually } from '../../node/fixtures.ts'
import { createLifecycleMesh, PASS } from './harness.ts'
import type { LifecycleMesh } from './harness.ts'
import type { RotationFailedEvent } from '../../../src/daemon/lifecycle/index.ts'

const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false)

describe('lifecycle: schedule (pure)', () => {
  it('renews at 2/3 of the lifetime by default, spread earlier by up to 10 %, never later', () => {
    const cert = { notBefore: 0, notAfter: 90_000 }
    expect(renewalTime(cert, ROTATION_DEFAULTS, () => 0)).to.equal(60_000)
    expect(renewalTime(cert, ROTATION_DEFAULTS, () => 1)).to.equal(51_000)
    expect(renewalTime(cert, { fraction: 0.5, jitter: 0 }, () => 0.7)).to.equal(45_000)
  })

  it('backs off exponentially from retryInitialMs to retryMaxMs, spread by the jitter', () => {
    const p = { retryInitialMs: 1_000, retryMaxMs: 8_000, retryJitter: 0 }
    expect([1, 2, 3, 4, 5, 40].map(n => retryDelay(n, p, () => 0.5))).to.deep.equal([1_000, 2_000, 4_000, 8_000, 8_000, 8_000])
    expect(retryDelay(1, { ...p, retryJitter: 0.2 }, () => 0)).to.equal(800)
    expect(retryDelay(1, { ...p, retryJitter: 0.2 }, () => 1)).to.equal(1_200)
  })
})

/**
 * The rotation manager against the real enrollment service (NODEDIR on disk, software key
 * store): retry with back-off while the CA is unreachable, one pending key across retries, the
 * old key kept until its certificate expires, and recovery from a crash mid-rotation.
 */
describe('lifecycle: rotation manager', function () {
  let mesh: LifecycleMesh
  before(async () => { mesh = await createLifecycleMesh('manager', { speed: 1, certSeconds: 3600 }) })
  after(async () => { await mesh?.cleanup() })

  async function open (dir: string): Promise<NodeLifecycle> {
    const nd = await openNodeDir(dir, PASS, mesh.clock.now(), { allowExpired: true, keyEnv: { scryptLogN: MIN_SCRYPT_LOG_N } })
    return NodeLifecycle.open({ nd, now: mesh.clock.ms, options: { rotation: { tickMs: 20, retryInitialMs: 100, retryMaxMs: 400, retryJitter: 0 }, noticePollMs: false, caTimeoutMs: 2_000 } })
  }

  it('retries with back-off while the CA is unreachable, reusing one new key, and rotates once it is back', async () => {
    const dir = await mesh.enroll('mgr-1')
    const realUrl = (await readNodeFile(dir))?.ca_url as string
    const lc = await open(dir)
    // The CA URL points at a closed port: every attempt fails to connect.
    await lc.files.update(async (d, f) => { const next = { ...f, ca_url: 'https://127.0.0.1:9' }; await writeFileAtomic(nodePaths(d).nodeJson, JSON.stringify(next)); return next })
    const failures: RotationFailedEvent[] = []
    lc.rotation.addEventListener('rotation-failed', (e) => { failures.push(e.detail) })
    lc.rotation.rotateSoon(0, 'manual')
    lc.rotation.start()
    try {
      await eventually(() => failures.length >= 3, 10_000)
      expect(failures.slice(0, 3).map(f => [f.code, f.failures, f.retryInMs])).to.deep.equal([['CA_UNREACHABLE', 1, 100], ['CA_UNREACHABLE', 2, 200], ['CA_UNREACHABLE', 3, 400]])
      const pending = lc.files.file.pending_identity_key?.label
      expect(pending).to.be.a('string')
      // The CA is reachable again.
      const rotated = new Promise(resolve => { lc.rotation.addEventListener('rotated', resolve, { once: true }) })
      await lc.files.update(async (d, f) => { const next = { ...f, ca_url: realUrl }; await writeFileAtomic(nodePaths(d).nodeJson, JSON.stringify(next)); return next })
      await rotated
      const file = await readNodeFile(dir)
      // The key created for the first attempt is the one certified: no key per retry.
      expect(file?.identity_key.label).to.equal(pending)
      expect(file?.pending_identity_key).to.equal(undefined)
      expect(file?.retired_identity_keys?.map(r => r.label)).to.deep.equal(['identity'])
      expect(lc.credentials.current().label).to.equal(pending)
      // Both pairs are kept: the old key stays in the store until its certificate expires.
      expect(await exists(join(dir, 'keys', 'identity.key'))).to.equal(true)
    } finally {
      await lc.stop()
    }
  })

  it('deletes a retired key from the key store once its certificate has expired', async () => {
    const dir = await mesh.enroll('mgr-2')
    const lc = await open(dir)
    try {
      await lc.rotation.rotateNow('manual')
      expect(await exists(join(dir, 'keys', 'identity.key'))).to.equal(true)
      const oldNotAfter = Date.parse((await readNodeFile(dir))?.retired_identity_keys?.[0].not_after ?? '')
      lc.rotation.start()
      await new Promise(resolve => setTimeout(resolve, 100))
      expect(await exists(join(dir, 'keys', 'identity.key'))).to.equal(true)
      mesh.clock.advance(oldNotAfter - mesh.clock.ms() + 1_000)
      await eventually(() => !lc.credentials.retired().some(r => r.label === 'identity'), 5_000)
      expect(await exists(join(dir, 'keys', 'identity.key'))).to.equal(false)
      // The new certificate may have expired too (both issued in the same second), and then
      // been renewed, retiring it in turn: only the first key's entry must be gone.
      expect((await readNodeFile(dir))?.retired_identity_keys?.map(r => r.label)).to.not.include('identity')
    } finally {
      mesh.clock.offsetMs = -3600_000
      await lc.stop()
    }
  })

  it('recovers from a crash between cert.pem and node.json: the pending key is used and node.json completed', async () => {
    const dir = await mesh.enroll('mgr-3')
    const before = await readNodeFile(dir)
    if (before == null) { throw new Error('not enrolled') }
    // 1. A rotation created its key and recorded it as pending ...
    const store = new SoftwareKeyStore({ dir: join(dir, 'keys'), passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N })
    const key = await store.generate('identity-next', 'P-256')
    await recordPendingKey(dir, before, { ...before.identity_key, label: 'identity-next' })
    // 2. ... the CA answered and cert.pem (leaf + chain) was written; then the process died.
    const issued = await mesh.svc.ca.issue({ csr: await createCsr(key, { nodeId: 'mgr-3', peerId: before.peer_id }), now: mesh.clock.now() })
    await writeFile(nodePaths(dir).cert, issued.pem + issued.chainPem)
    // 3. Opened again: the loader takes the pending key; the lifecycle finishes node.json.
    const nd = await openNodeDir(dir, PASS, mesh.clock.now(), { allowExpired: true })
    expect(nd.identityLabel).to.equal('identity-next')
    const lc = await NodeLifecycle.open({ nd, now: mesh.clock.ms, options: { noticePollMs: false } })
    await lc.stop()
    const after = await readNodeFile(dir)
    expect(after?.identity_key.label).to.equal('identity-next')
    expect(after?.serial).to.equal(issued.serialHex)
    expect(after?.pending_identity_key).to.equal(undefined)
    expect(after?.retired_identity_keys?.map(r => [r.label, r.serial])).to.deep.equal([['identity', before.serial]])
  })
})
