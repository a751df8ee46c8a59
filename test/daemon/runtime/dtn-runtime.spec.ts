import { expect } from 'aegir/chai'
import { readNodeFile } from '../../../src/daemon/enroll/node-files.ts'
import { startNodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import { eventually, waitForEvent } from '../../node/fixtures.ts'
import { PASS, createTestMesh, eventuallyAsync } from './harness.ts'
import type { TestMesh } from './harness.ts'
import type { RuntimeDtnOptions } from '../../../src/daemon/runtime/dtn.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { DeliveredBundle } from '../../../src/dtn/bundle-agent.ts'

/**
 * DTN inside the node runtime (what `node start` runs), nodes in this process on QUIC loopback,
 * enrolled through the real enrollment service: the library API (`runtime.bundles.send`, the
 * `bundle:delivered` event), revocation purging the store, and anomaly signatures and CRLs
 * carried in bundles to a node that was down when they were published.
 */
describe('node runtime / dtn: library API, revocation purge, gossip and CRLs carried in bundles', function () {
  let mesh: TestMesh
  const runtimes: NodeRuntime[] = []

  before(async () => { mesh = await createTestMesh('dtn-runtime') })
  afterEach(async () => { await Promise.all(runtimes.splice(0).map(async r => { await r.stop() })) })
  after(async () => { await mesh.cleanup() })

  async function start (dir: string, host: number, bootstrap: string[], dtn: RuntimeDtnOptions = {}): Promise<NodeRuntime> {
    const r = await startNodeRuntime({
      dir,
      passphrase: PASS,
      api: false,
      runFile: false,
      crl: false,
      dtn,
      options: { listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`], transports: { quic: true, tcp: false }, mdns: { enabled: false }, bootstrap }
    })
    runtimes.push(r)
    return r
  }

  async function stop (r: NodeRuntime): Promise<void> {
    runtimes.splice(runtimes.indexOf(r), 1)
    await r.stop()
  }

  const addr = (r: NodeRuntime): string => r.node.getMultiaddrs()[0].toString()
  const authenticated = (r: NodeRuntime, nodeId: string): boolean => r.node.peers.rows().some(p => p.node_id === nodeId && p.status === 'authenticated')

  it('runtime.bundles.send to a connected node: delivered once, with a bundle:delivered event', async () => {
    const a = await start(await mesh.enroll('lib-a'), 61, [])
    const c = await start(await mesh.enroll('lib-c'), 62, [addr(a)])
    await eventually(() => authenticated(a, 'lib-c'), 20_000)
    const got = waitForEvent<DeliveredBundle>(c.bundles, 'bundle:delivered', () => true, 20_000)
    const sent = await a.bundles.send({ destination: 'lib-c', ttlSec: 60, payload: Buffer.from('library api') })
    const d = await got
    expect(d).to.include({ bundleId: sent.bundleId, source: 'lib-a', receivedFrom: 'lib-a' })
    expect(Buffer.from(d.payload).toString()).to.equal('library api')
    expect((await c.bundles.list()).inbox.map(r => r.bundle_id)).to.deep.equal([sent.bundleId])
    expect((await c.bundles.get(sent.id))?.row.sha256).to.have.lengthOf(64)
  })

  it('a CRL revoking the source purges its bundles held for forwarding', async () => {
    const v = await start(await mesh.enroll('rev-v'), 63, [])
    const k = await start(await mesh.enroll('rev-k'), 64, [addr(v)])
    await eventually(() => authenticated(v, 'rev-k'), 20_000)
    // 1. V sends to a node that never runs; K takes a spray share in custody
    const sent = await v.bundles.send({ destination: 'rev-nobody', ttlSec: 600, payload: Buffer.from('from a soon revoked node') })
    await eventuallyAsync(async () => (await k.bundles.list()).held.some(h => h.bundle_id === sent.bundleId), 20_000)
    // 2. the CA revokes V; K installs the CRL (as its poll would)
    const serial = (await readNodeFile(v.dir.dir))?.serial as string
    const now = mesh.svc.clock.now()
    await mesh.svc.service.revoke({ serialHex: serial }, now)
    const crl = await mesh.svc.service.crl(now)
    const r = await k.crl.offer(crl.der, { source: 'fetch' })
    expect(r.status).to.equal('installed')
    // 3. V's bundle is gone from K's store
    await eventuallyAsync(async () => (await k.bundles.list()).held.length === 0, 10_000)
    expect(k.bundles.store.usage.entries).to.equal(0)
  })

  it('an anomaly signature and a CRL published while C is down reach C in bundles when it comes back', async () => {
    const dirs = { a: await mesh.enroll('carry-a'), b: await mesh.enroll('carry-b'), c: await mesh.enroll('carry-c'), x: await mesh.enroll('carry-x') }
    const a = await start(dirs.a, 65, [])
    const b = await start(dirs.b, 66, [addr(a)])
    let c = await start(dirs.c, 67, [addr(a)])
    await eventually(() => authenticated(a, 'carry-c') && authenticated(b, 'carry-a'), 20_000)
    if (a.node.gossip == null) { throw new Error('gossip is off in the runtime') }
    // 1. C goes down; A still knows it (its peer table lists it disconnected)
    await stop(c)
    await eventually(() => !authenticated(a, 'carry-c'), 10_000)
    // 2. A publishes a signature: gossip reaches B, not C; A also carries it in a broadcast bundle
    const published = await a.node.publishAnomaly({ type: 'sha256', value: 'ab'.repeat(32) }, { ttl: 600 })
    await eventually(() => a.carry.stats.anomaliesSent === 1, 10_000)
    // 3. the CA revokes X; A fetches the CRL (as its poll would) and carries it too
    const serial = (await readNodeFile(dirs.x))?.serial as string
    const now = mesh.svc.clock.now()
    await mesh.svc.service.revoke({ serialHex: serial }, now)
    const crl = await mesh.svc.service.crl(now)
    expect((await a.crl.offer(crl.der, { source: 'fetch' })).status).to.equal('installed')
    await eventually(() => a.carry.stats.crlsSent === 1, 10_000)
    // 4. C comes back knowing only B, with no CRL poll: both arrive as bundles
    c = await start(dirs.c, 67, [addr(b)])
    await eventuallyAsync(async () => (await c.node.gossip?.anomalies.get(published.messageId)) != null, 30_000)
    await eventually(() => c.crl.newestNumber === BigInt(crl.crlNumber), 30_000)
    expect(c.carry.stats.anomaliesAccepted).to.equal(1)
    expect(c.carry.stats.crlsAccepted).to.equal(1)
    // carried items never reach the application's inbox
    expect((await c.bundles.list()).inbox).to.deep.equal([])
  })
})
