import { expect } from 'aegir/chai'
import { nodePaths, readNodeFile, writeFileAtomic } from '../../../src/daemon/enroll/node-files.ts'
import { eventually } from '../../node/fixtures.ts'
import { createLifecycleMesh } from './harness.ts'
import type { LifecycleMesh } from './harness.ts'
import type { RotatedEvent } from '../../../src/daemon/lifecycle/index.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { DeliveredBundle } from '../../../src/dtn/bundle-agent.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'

/**
 * Until a node has a valid certificate, it holds its outbound gossip and bundles on disk,
 * through the DTN store, and loses none of them. Two node runtimes over QUIC; A cannot reach its CA (a
 * closed port), so its rotation fails and its certificate expires while it runs; B rotates as
 * usual. While A is expired, a bundle to B and an anomaly signature are held on A's disk, with
 * ids handed out at once, and nothing leaves A. Once the CA is back, A renews, rejoins and sends
 * both, signed with its new certificate: B gets each exactly once, under the promised ids.
 */
const CERT_S = 600

describe('lifecycle: sends held on disk while the certificate is expired, sent after renewal (QUIC)', function () {
  let mesh: LifecycleMesh
  let a: NodeRuntime
  let b: NodeRuntime
  let aDir: string
  let caUrl: string
  const bBundles: DeliveredBundle[] = []
  const bAnomalies: AnomalyRecord[] = []
  const aRotations: RotatedEvent[] = []

  const setCaUrl = async (url: string): Promise<void> => {
    await a.lifecycle.files.update(async (d, f) => { const next = { ...f, ca_url: url }; await writeFileAtomic(nodePaths(d).nodeJson, JSON.stringify(next)); return next })
  }

  before(async () => {
    mesh = await createLifecycleMesh('hold', { speed: 1, certSeconds: CERT_S })
    aDir = await mesh.enroll('hold-a')
    const bDir = await mesh.enroll('hold-b')
    b = await mesh.start(bDir, 120)
    a = await mesh.start(aDir, 121, [b.node.getMultiaddrs()[0].toString()])
    b.bundles.addEventListener('bundle:delivered', (e) => { bBundles.push(e.detail) })
    b.node.gossip?.anomalies.addEventListener('anomaly', (e) => { if (e.detail.origin === 'hold-a') { bAnomalies.push(e.detail) } })
    a.lifecycle.rotation.addEventListener('rotated', (e) => { aRotations.push(e.detail) })
    await eventually(() => a.node.isAuthenticated(b.node.peerId) && b.node.isAuthenticated(a.node.peerId), 10_000)
    caUrl = (await readNodeFile(aDir))?.ca_url as string
  })
  after(async () => { await mesh?.cleanup() })

  it('holds a bundle and an anomaly signature while expired, sends nothing, and answers with their ids', async () => {
    await setCaUrl('https://127.0.0.1:9')
    const bSerial = b.lifecycle.credentials.current().leaf.serialHex
    // 3/4 of the lifetime: B rotates; A's attempts fail against the closed port.
    mesh.clock.advance(CERT_S * 750)
    await eventually(() => b.lifecycle.credentials.current().leaf.serialHex !== bSerial, 10_000)
    // Past A's expiry (B's new certificate has most of its life left).
    const aNotAfter = a.lifecycle.credentials.current().leaf.notAfter
    mesh.clock.advance(aNotAfter - mesh.clock.ms() + 2_000)
    expect(a.hold.holding).to.equal(true)
    // Its sessions end with its certificate.
    await eventually(() => !b.node.isAuthenticated(a.node.peerId), 5_000)

    const sent = await a.bundles.send({ destination: 'hold-b', ttlSec: 3600, payload: new TextEncoder().encode('held bundle') })
    const published = await a.hold.publishAnomaly({ type: 'sha256', value: 'a'.repeat(64) }, { ttl: 600 })
    expect(sent.bundleId).to.match(/^hold-a:\d+:\d+$/)
    expect(published).to.include({ held: true, recipients: 0, origin: 'hold-a' })
    expect(a.hold.outbox.size).to.equal(2)
    // Nothing made under the expired certificate: no bundle in A's outbound store, nothing at B.
    expect(a.bundles.store.outboundCount).to.equal(0)
    await new Promise(resolve => setTimeout(resolve, 1_000))
    expect(bBundles).to.have.length(0)
    expect(bAnomalies).to.have.length(0)

    // The CA is back: A renews (its certificate expired: /v1/renew), rejoins and sends both.
    await setCaUrl(caUrl)
    await eventually(() => aRotations.some(r => r.renewed), 15_000)
    await eventually(() => bBundles.length > 0 && bAnomalies.length > 0, 20_000)
    expect(a.hold.holding).to.equal(false)
    expect(a.hold.outbox.size).to.equal(0)
    expect(bBundles.map(d => d.bundleId)).to.deep.equal([sent.bundleId])
    expect(new TextDecoder().decode(bBundles[0].payload)).to.equal('held bundle')
    expect(bAnomalies.map(r => r.message_id)).to.deep.equal([published.messageId])
    // Signed with the renewed certificate: B accepted both under it.
    expect(bBundles[0].signer.serialHex).to.equal(a.lifecycle.credentials.current().leaf.serialHex)
    // Exactly once, some time later too.
    await new Promise(resolve => setTimeout(resolve, 1_000))
    expect(bBundles).to.have.length(1)
    expect(bAnomalies).to.have.length(1)
  })
})
