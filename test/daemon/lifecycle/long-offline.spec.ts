import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { readNodeFile } from '../../../src/daemon/enroll/node-files.ts'
import { eventually } from '../../node/fixtures.ts'
import { createLifecycleMesh } from './harness.ts'
import type { LifecycleMesh } from './harness.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'

/**
 * A node long offline: 60 s certificates and a 60 s renewal-after-expiry window (the
 * service's `renewalWindowMs`; 30 days by default) on a clock running SPEED times real time. Two
 * nodes stay online and keep rotating. A node that was off past its certificate's expiry but
 * inside the window renews at start (`POST /v1/renew`, proof of possession of its old key, no
 * token) and rejoins; one off past the window is refused with REENROLL_REQUIRED (the CA said
 * RENEWAL_WINDOW_PASSED); a revoked one is refused too.
 */
const SPEED = 16
const CERT_MS = 60_000
const WINDOW_MS = 60_000

describe('lifecycle: renewal after a long time offline (QUIC)', function () {
  let mesh: LifecycleMesh
  const online: NodeRuntime[] = []
  let dirs: Record<string, string>

  before(async () => {
    mesh = await createLifecycleMesh('offline', { speed: SPEED, certSeconds: CERT_MS / 1000, service: { renewalWindowMs: WINDOW_MS } })
    dirs = {}
    for (const id of ['on-0', 'on-1', 'back', 'too-late', 'revoked']) { dirs[id] = await mesh.enroll(id) }
    online.push(await mesh.start(dirs['on-0'], 100))
    online.push(await mesh.start(dirs['on-1'], 101, [online[0].node.getMultiaddrs()[0].toString()]))
    await eventually(() => online[0].node.isAuthenticated(online[1].node.peerId), 10_000)
  })
  after(async () => { await mesh?.cleanup() })

  const notAfterOf = async (id: string): Promise<number> => Date.parse((await readNodeFile(dirs[id]))?.not_after ?? '')
  const waitClock = async (until: number): Promise<void> => {
    while (mesh.clock.ms() < until) { await new Promise(resolve => setTimeout(resolve, 20)) }
  }

  it('a node back after its certificate expired, inside the window, renews without a token and rejoins', async () => {
    const old = await readNodeFile(dirs.back)
    const expiredAt = Date.parse(old?.not_after ?? '')
    // 1. Off until its certificate has been expired for half the window.
    await waitClock(expiredAt + WINDOW_MS / 2)
    // 2. Started: it renews first, then joins through its bootstrap list.
    const back = await mesh.start(dirs.back, 102, online.map(o => o.node.getMultiaddrs()[0].toString()))
    const file = await readNodeFile(dirs.back)
    expect(file?.serial).to.not.equal(old?.serial)
    expect(Date.parse(file?.not_after ?? '')).to.be.greaterThan(mesh.clock.ms())
    expect(back.lifecycle.credentials.current().leaf.serialHex).to.equal(file?.serial)
    expect(file?.identity_key.label).to.not.equal(old?.identity_key.label)
    await eventually(() => online.every(o => o.node.isAuthenticated(back.node.peerId) && back.node.isAuthenticated(o.node.peerId)), 10_000)
    expect(online[0].node.peers.get(back.node.peerId.toString())?.certSerial).to.equal(file?.serial)
    // 3. The old key's certificate has expired: its key leaves the key store.
    await eventually(() => (back.lifecycle.credentials.retired().length === 0), 5_000)
    await expect(stat(join(dirs.back, 'keys', `${String(old?.identity_key.label)}.key`))).to.eventually.be.rejectedWith(/ENOENT/)
    expect((await readNodeFile(dirs.back))?.retired_identity_keys).to.deep.equal([])
  })

  it('a node back after the window is refused with REENROLL_REQUIRED (the CA says RENEWAL_WINDOW_PASSED)', async () => {
    await waitClock(await notAfterOf('too-late') + WINDOW_MS + 5_000)
    const err = await mesh.start(dirs['too-late'], 103).then(() => undefined, (e: any) => e)
    expect(err).to.include({ name: 'NodeRuntimeError', code: 'REENROLL_REQUIRED' })
    expect(err.cause).to.include({ name: 'LifecycleError', code: 'REENROLL_REQUIRED', serverCode: 'RENEWAL_WINDOW_PASSED' })
    expect(err.message).to.match(/enroll again/)
  })

  it('a revoked node is refused (its certificates are revoked with its node_id)', async () => {
    await mesh.svc.service.revoke({ nodeId: 'revoked' }, mesh.clock.now())
    await waitClock(await notAfterOf('revoked') + 1_000)
    const err = await mesh.start(dirs.revoked, 104).then(() => undefined, (e: any) => e)
    expect(err).to.include({ name: 'NodeRuntimeError', code: 'REENROLL_REQUIRED' })
    expect(err.cause).to.include({ code: 'REENROLL_REQUIRED', serverCode: 'CERT_REVOKED' })
  })

  it('the two nodes that stayed online kept rotating and kept their link throughout', async () => {
    for (const o of online) {
      expect(o.lifecycle.credentials.current().leaf.notAfter).to.be.greaterThan(mesh.clock.ms())
      expect((await readNodeFile(o.dir.dir))?.rotated_at).to.be.a('string')
    }
    expect(online[0].node.isAuthenticated(online[1].node.peerId)).to.equal(true)
  })
})
