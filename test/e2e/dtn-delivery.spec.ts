import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { dtnSuite, listOf, sendBundle, sha256, storeContents, untilListing } from './dtn-harness.ts'

/**
 * Bundle delivery between `dadm-mesh node start` processes over real QUIC on
 * loopback, sent and read through `dadm-mesh bundle send` / `bundle list` (the admin API over
 * mutual TLS). Certificates come from the real enrollment service. Delivery is counted twice:
 * the receiver's inbox (GET /v1/bundles) and the `bundle delivered` events every incarnation of
 * the receiver logged.
 */
describe('e2e / dtn: delivery between node processes over QUIC', function () {
  const suite = dtnSuite('dtn-delivery')
  const node = suite.node

  it('A -> C with C offline: C starts 30 s later and gets the bundle exactly once', async () => {
    const a = await node('a1')
    const c = await node('c1')
    await a.start()
    // 1. A accepts the bundle while C has never run
    const sent = await sendBundle(a.dir, 'c1', 600, { data: 'hello after 30 s' })
    expect((await listOf(a.dir)).held.map(h => h.bundle_id)).to.deep.equal([sent.bundle_id])
    // 2. thirty seconds of nobody to give it to: C starts 30 s later, long past any dial retry
    await new Promise(resolve => setTimeout(resolve, 30_000))
    // 3. C starts, knowing only A's address; A hands the bundle over when C authenticates
    await c.start([a.addr])
    const got = await untilListing(c.dir, l => l.inbox.length > 0, 30_000)
    expect(got.inbox.map(r => r.bundle_id)).to.deep.equal([sent.bundle_id])
    expect(got.inbox[0]).to.include({ source: 'a1', destination: 'c1', received_from: 'a1', size: 16 })
    // 4. A let go after C's custody ACK
    await untilListing(a.dir, l => l.held.length === 0, 15_000)
    // 5. exactly once: a restart of C and a reconnection change nothing
    await c.stop()
    await c.start([a.addr])
    await new Promise(resolve => setTimeout(resolve, 3000))
    expect((await listOf(c.dir)).inbox.map(r => r.bundle_id)).to.deep.equal([sent.bundle_id])
    expect(c.deliveries()).to.deep.equal([sent.bundle_id])
  })

  it('A -> C through relay B, A and C never running at the same time: C gets it from B', async () => {
    const a = await node('a2')
    const b = await node('b2', ['--relay'])
    const c = await node('c2')
    await b.start()
    await a.start([b.addr])
    // 1. A sends to C (never seen); B, a connected relay, takes custody of a spray share
    const sent = await sendBundle(a.dir, 'c2', 600, { data: 'relayed by b2' })
    await untilListing(b.dir, l => l.held.some(h => h.bundle_id === sent.bundle_id), 20_000)
    // 2. A goes away before C ever starts
    await a.stop()
    // 3. C starts, knowing only B
    await c.start([b.addr])
    const got = await untilListing(c.dir, l => l.inbox.length > 0, 30_000)
    expect(got.inbox).to.have.lengthOf(1)
    expect(got.inbox[0]).to.include({ bundle_id: sent.bundle_id, source: 'a2', received_from: 'b2' })
    // B delivered directly, so it released its copy
    await untilListing(b.dir, l => l.held.length === 0, 15_000)
    expect(c.deliveries()).to.deep.equal([sent.bundle_id])
  })

  it('a 5 MiB payload crosses as fragments and arrives intact (SHA-256)', async () => {
    const a = await node('a3')
    const c = await node('c3')
    await a.start()
    await c.start([a.addr])
    const payload = randomBytes(5 * 1024 * 1024)
    const file = join(suite.mesh().base, 'five-mib.bin')
    await writeFile(file, payload)
    const sent = await sendBundle(a.dir, 'c3', 600, { file })
    const got = await untilListing(c.dir, l => l.inbox.length > 0, 60_000)
    expect(got.inbox[0]).to.include({ bundle_id: sent.bundle_id, size: payload.length, sha256: sha256(payload) })
    await untilListing(a.dir, l => l.held.length === 0, 30_000)
    expect(c.deliveries()).to.deep.equal([sent.bundle_id])
  })

  it('a bundle whose TTL passes before C appears is never delivered, and is gone from every store', async () => {
    const a = await node('a4')
    const b = await node('b4')
    const c = await node('c4')
    await b.start()
    await a.start([b.addr])
    // 1. a 4-second bundle for C; B takes a copy in custody
    const sent = await sendBundle(a.dir, 'c4', 4, { data: 'too late' })
    await untilListing(b.dir, l => l.held.some(h => h.bundle_id === sent.bundle_id), 20_000)
    // 2. past its expiry, and past a sweep (every 5 s), both A and B have let it go
    await untilListing(a.dir, l => l.held.length === 0, 20_000)
    await untilListing(b.dir, l => l.held.length === 0, 20_000)
    // 3. C appears, connected to both: nothing arrives
    await c.start([a.addr, b.addr])
    await new Promise(resolve => setTimeout(resolve, 5000))
    expect((await listOf(c.dir)).inbox).to.have.lengthOf(0)
    expect(c.deliveries()).to.deep.equal([])
    // 4. on disk: no record, no seen id, nothing charged, in any of the three stores
    await Promise.all([a.stop(), b.stop(), c.stop()])
    for (const n of [a, b, c]) {
      expect(await storeContents(n.dir, [sent.bundle_id]), n.nodeId).to.deep.equal({ entries: 0, held: 0, inbox: 0, seenKeys: 0, known: [] })
    }
  })
})
