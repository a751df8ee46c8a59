/* eslint-disable jsdoc/check-indentation -- doc comments here hold indented lists and diagrams */
import { expect } from 'aegir/chai'
import { readNodeFile } from '../../../src/daemon/enroll/node-files.ts'
import { startNodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import { PASS, createTestMesh } from '../../daemon/runtime/harness.ts'
import { adminCred, call } from '../../enrollment/harness.ts'
import { eventually, waitForEvent } from '../fixtures.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { RevokedPeerEvent } from '../../../src/node/index.ts'
import type { TestMesh } from '../../daemon/runtime/harness.ts'

/**
 * A CRL one node fetched from the CA is gossiped on (any node holding a newer CRL publishes
 * it, so a CRL reaches nodes the CA never talks to): only `poller` polls the CA; `quiet` never does and has no CA node to push to it,
 * yet it cuts the revoked node off through the poller's re-gossip.
 *
 *   poller (polls every 200 ms) ── quiet (no poll) ── victim
 */
describe('a fetched CRL is re-gossiped (node runtimes over QUIC)', function () {
  this.timeout(120_000)
  let mesh: TestMesh
  const runtimes: NodeRuntime[] = []

  before(async () => { mesh = await createTestMesh('regossip') })
  after(async () => {
    await Promise.all(runtimes.map(async r => { await r.stop() }))
    await mesh?.cleanup()
  })

  async function start (dir: string, host: number, bootstrap: string[], poll: boolean): Promise<NodeRuntime> {
    const r = await startNodeRuntime({
      dir,
      passphrase: PASS,
      api: false,
      runFile: false,
      crl: poll ? { intervalMs: 200, backoffInitialMs: 200 } : false,
      options: { listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`], transports: { quic: true, tcp: false }, mdns: { enabled: false }, dht: { enabled: false }, discovery: { dialDiscovered: false }, bootstrap }
    })
    runtimes.push(r)
    return r
  }

  it('the quiet node installs the CRL from the poller\'s gossip and expels the victim', async () => {
    const [pd, qd, vd] = [await mesh.enroll('poller'), await mesh.enroll('quiet'), await mesh.enroll('victim')]
    const poller = await start(pd, 201, [], true)
    const quiet = await start(qd, 202, [], false)
    const victim = await start(vd, 203, [], false)
    await quiet.node.dial(poller.node.getMultiaddrs()[0])
    await victim.node.dial(quiet.node.getMultiaddrs()[0])
    await eventually(() => quiet.node.isAuthenticated(victim.node.peerId) && quiet.node.isAuthenticated(poller.node.peerId), 10_000)
    // The CRL topic mesh between poller and quiet forms on a heartbeat.
    await eventually(() => (quiet.node.gossip?.pubsub as any).getMeshPeers('/dadm-mesh/crl/1').includes(poller.node.peerId.toString()), 15_000)
    const expelled = waitForEvent<RevokedPeerEvent>(quiet.node, 'peer:revoked', e => e.peerId === victim.node.peerId.toString(), 20_000)

    const serial = (await readNodeFile(vd))?.serial as string
    const reply = await call(mesh.svc, 'POST', '/v1/revoke', { serial }, { client: await adminCred(mesh.svc) })
    expect(reply.status).to.equal(204)

    expect((await expelled).nodeId).to.equal('victim')
    expect(quiet.node.libp2p.getConnections(victim.node.peerId)).to.have.length(0)
    expect(quiet.crl.newestNumber).to.equal(poller.crl.newestNumber)
    // It came by gossip from the poller, which fetched it (the poller's first CRL may have come the same way).
    expect(quiet.node.gossip?.crl.validationMetrics.count('/dadm-mesh/crl/1', 'accept')).to.be.at.least(1)
  })
})
