import { createHash, randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { BROADCAST } from '../../src/dtn/eid.ts'
import { agentFor, Clock, NOW, rejection, setupPki, tempStore } from './fixtures.ts'
import type { Pki, TempStore } from './fixtures.ts'
import type { DeliveredBundle } from '../../src/dtn/bundle-agent.ts'
import type { BundleAgent } from '../../src/dtn/bundle-agent.ts'

/** The agent end to end on real LevelDB stores, transfers carried by hand (no network). */
describe('dtn / bundle agent: custody, delivery, dedup, expiry, reassembly, restart', function () {
  let pki: Pki
  let clock: Clock
  const stores: TempStore[] = []

  async function agent (who: 'a' | 'b' | 'c', opts = {}): Promise<{ agent: BundleAgent, ts: TempStore }> {
    const ts = await tempStore()
    stores.push(ts)
    return { agent: await agentFor(pki[who], ts.store, pki.tca, clock, opts), ts }
  }

  function deliveries (agent: BundleAgent): DeliveredBundle[] {
    const seen: DeliveredBundle[] = []
    agent.addEventListener('bundle:delivered', (evt) => { seen.push(evt.detail) })
    return seen
  }

  before(async () => { pki = await setupPki() })
  after(async () => { await pki.close() })
  beforeEach(() => { clock = new Clock() })
  afterEach(async () => {
    for (const ts of stores.splice(0)) { await ts.destroy() }
  })

  it('direct custody transfer: delivered exactly once; the sender lets go only after the ACK', async () => {
    const { agent: a } = await agent('a')
    const { agent: b } = await agent('b')
    const got = deliveries(b)
    const sent = await a.send({ destination: 'node-b', ttlSec: 600, payload: Buffer.from('hello b') })
    expect(sent.bundleId).to.equal(`node-a:${NOW}:0`)
    const [t] = await a.planTransfers(['node-b'], { peer: 'node-b' })
    expect(t).to.include({ peer: 'node-b', kind: 'direct', copies: 1 })
    const r = await b.receive(t.bytes, { from: 'node-a' })
    expect(r.status).to.equal('accepted')
    // no ACK yet: still held
    expect(await a.store.listOutbound()).to.have.lengthOf(1)
    // a retransmission (the ACK was lost) is a duplicate, not a second delivery
    expect((await b.receive(t.bytes, { from: 'node-a' })).status).to.equal('duplicate')
    await a.completeTransfer(t, { status: 'accepted' })
    expect(await a.store.listOutbound()).to.have.lengthOf(0)
    expect(got.map(d => Buffer.from(d.payload).toString())).to.deep.equal(['hello b'])
    expect((await b.store.listInbox(clock.t)).map(e => e.meta.id.sequence)).to.deep.equal([0])
    expect(a.planner.inFlight).to.equal(0)
  })

  it('relay with binary spray-and-wait: A hands half its copies to B, B delivers to C directly', async () => {
    const { agent: a } = await agent('a')
    const { agent: b } = await agent('b')
    const { agent: c } = await agent('c')
    const got = deliveries(c)
    await a.send({ destination: 'node-c', ttlSec: 600, payload: Buffer.from('via relay') })
    const [t1] = await a.planTransfers(['node-b'], { peer: 'node-b' })
    expect(t1).to.include({ peer: 'node-b', kind: 'spray', copies: 4 })
    await b.receive(t1.bytes, { from: 'node-a', copies: t1.copies })
    await a.completeTransfer(t1, { status: 'accepted' })
    const [mine] = await a.store.listOutbound()
    expect(mine).to.include({ copies: 4 })
    expect(mine.sentTo).to.deep.equal(['node-b'])
    // A and C never meet: B carries it on
    const [t2] = await b.planTransfers(['node-a', 'node-c'], { peer: 'node-c' })
    expect(t2).to.include({ peer: 'node-c', kind: 'direct' })
    await c.receive(t2.bytes, { from: 'node-b' })
    await b.completeTransfer(t2, { status: 'accepted' })
    expect(got).to.have.lengthOf(1)
    expect(got[0]).to.include({ source: 'node-a', receivedFrom: 'node-b' })
    expect(await b.store.listOutbound()).to.have.lengthOf(0)
  })

  it('broadcast floods to every peer that lacks it, delivered once each, never sent back', async () => {
    const { agent: a } = await agent('a')
    const { agent: b } = await agent('b')
    const got = deliveries(b)
    await a.send({ destination: BROADCAST, ttlSec: 600, payload: Buffer.from('crl v7') })
    const ts = await a.planTransfers(['node-b', 'node-c'])
    expect(ts.map(t => [t.peer, t.kind])).to.deep.equal([['node-b', 'flood'], ['node-c', 'flood']])
    await b.receive(ts[0].bytes, { from: 'node-a' })
    expect(got).to.have.lengthOf(1)
    // B keeps a copy to flood on, but not back to A
    const onward = await b.planTransfers(['node-a', 'node-c'])
    expect(onward.map(t => t.peer)).to.deep.equal(['node-c'])
    expect((await b.receive(ts[0].bytes, { from: 'node-c' })).status).to.equal('duplicate')
    expect(got).to.have.lengthOf(1)
  })

  it('expired bundles are swept from every store and never delivered', async () => {
    const { agent: a } = await agent('a')
    const { agent: b } = await agent('b')
    await a.send({ destination: 'node-c', ttlSec: 60, payload: Buffer.from('short lived') })
    const [t] = await a.planTransfers(['node-b'], { peer: 'node-b' })
    await b.receive(t.bytes, { from: 'node-a', copies: t.copies })
    clock.t += 61_000
    // not yet swept: still no transfer is planned for it
    expect(await b.planTransfers(['node-c'], { peer: 'node-c' })).to.deep.equal([])
    expect(await a.sweep()).to.be.greaterThan(0)
    expect(await b.sweep()).to.be.greaterThan(0)
    for (const x of [a, b]) {
      expect(await x.store.listOutbound()).to.have.lengthOf(0)
      expect(x.store.usage).to.deep.equal({ bytes: 0, entries: 0 })
    }
    const { agent: c } = await agent('c')
    expect(await rejection(c.receive(t.bytes))).to.include({ code: 'EXPIRED' })
  })

  it('a 5 MiB payload is fragmented, survives a receiver restart mid-reassembly, and arrives intact (SHA-256)', async () => {
    const { agent: a } = await agent('a')
    let { agent: b, ts } = await agent('b')
    const payload = randomBytes(5 * 1024 * 1024)
    const sent = await a.send({ destination: 'node-b', ttlSec: 3600, payload })
    expect(sent.fragments).to.be.greaterThan(80)
    const transfers = await a.planTransfers(['node-b'], { peer: 'node-b', limit: 1000 })
    expect(transfers).to.have.lengthOf(sent.fragments)
    const half = Math.floor(transfers.length / 2)
    for (const t of transfers.slice(0, half)) {
      await b.receive(t.bytes, { from: 'node-a' })
      await a.completeTransfer(t, { status: 'accepted' })
    }
    // crash-restart of the receiver: fragments are on disk
    await b.store.close()
    b = await agentFor(pki.b, await ts.reopen(), pki.tca, clock)
    const got = deliveries(b)
    expect(await b.store.fragmentsOf(sent.id)).to.have.lengthOf(half)
    for (const t of transfers.slice(half)) {
      await b.receive(t.bytes, { from: 'node-a' })
      await a.completeTransfer(t, { status: 'accepted' })
    }
    expect(got).to.have.lengthOf(1)
    const sha = (x: Uint8Array): string => createHash('sha256').update(x).digest('hex')
    expect(sha(got[0].payload)).to.equal(sha(payload))
    expect(await b.store.fragmentsOf(sent.id)).to.have.lengthOf(0)
    expect(await a.store.listOutbound()).to.have.lengthOf(0)
    // a late duplicate fragment is not a second delivery
    expect((await b.receive(transfers[0].bytes)).status).to.equal('duplicate')
    expect(got).to.have.lengthOf(1)
  })

  it('the sender restarts after send() returned: the bundle is still there and ids keep increasing', async () => {
    let { agent: a, ts } = await agent('a')
    const first = await a.send({ destination: 'node-c', ttlSec: 600, payload: Buffer.from('one') })
    await a.store.close()
    a = await agentFor(pki.a, await ts.reopen(), pki.tca, clock)
    expect((await a.store.listOutbound()).map(m => m.id)).to.deep.equal([first.id])
    // same millisecond, even a clock stepped back: the next id is still new
    clock.t -= 5000
    const second = await a.send({ destination: 'node-c', ttlSec: 600, payload: Buffer.from('two') })
    expect(second.id).to.deep.equal({ source: 'node-a', createdAt: NOW, sequence: 1 })
  })

  it('purges every bundle of a revoked source', async () => {
    const { agent: b } = await agent('b')
    const { agent: a } = await agent('a')
    const { agent: c } = await agent('c')
    for (const src of [a, c]) {
      await src.send({ destination: 'node-e', ttlSec: 600, payload: Buffer.from('x') })
      const [t] = await src.planTransfers(['node-b'], { peer: 'node-b' })
      await b.receive(t.bytes, { from: src.self, copies: t.copies })
    }
    expect(await b.purgeRevoked(id => id.serialHex === pki.a.serialHex)).to.equal(1)
    expect((await b.store.listOutbound()).map(m => m.id.source)).to.deep.equal(['node-c'])
    expect(await b.purgeSource('node-c')).to.equal(1)
    expect(await b.store.listOutbound()).to.have.lengthOf(0)
    expect(b.store.usage.entries).to.equal(0)
  })

  it('a failed transfer is retried on the back-off schedule, not before', async () => {
    const { agent: a } = await agent('a')
    await a.send({ destination: 'node-b', ttlSec: 600, payload: Buffer.from('retry me') })
    const [t] = await a.planTransfers(['node-b'])
    a.failTransfer(t)
    // attempt 1 done; with random 0.5 the next is 0.75 s later (equal jitter on a 1 s base)
    expect(await a.planTransfers(['node-b'])).to.have.lengthOf(0)
    clock.t += 749
    expect(await a.planTransfers(['node-b'])).to.have.lengthOf(0)
    clock.t += 1
    expect(await a.planTransfers(['node-b'])).to.have.lengthOf(1)
  })
})
