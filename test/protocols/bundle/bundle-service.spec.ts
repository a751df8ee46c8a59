import { createHash, randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { BundleService } from '../../../protocols/bundle/bundle-service.ts'
import { PROTOCOL } from '../../../protocols/bundle/constants.ts'
import { FrameStream } from '../../../protocols/bundle/frame-stream.ts'
import { BROADCAST } from '../../../src/dtn/eid.ts'
import { agentFor, Clock, craft, tempStore } from '../../dtn/fixtures.ts'
import { createTestCa, enroll, startNode, waitForEvent } from '../../node/fixtures.ts'
import type { BundleAgent, DeliveredBundle } from '../../../src/dtn/bundle-agent.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { TempStore } from '../../dtn/fixtures.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

interface Member { node: MeshNode, agent: BundleAgent, service: BundleService, ts: TempStore, delivered: DeliveredBundle[] }

/**
 * `/dadm-mesh/bundle/1.0.0` between real mesh nodes on QUIC loopback (mutual auth, the guard),
 * each with its own LevelDB bundle store. Nodes come and go to model disconnection.
 */
describe('protocols / bundle: custody transfer between mesh nodes', function () {
  let tca: TestCa
  const enrolled: Record<string, Enrolled> = {}
  const members: Member[] = []
  const clock = new Clock()

  before(async () => {
    tca = await createTestCa('bundle')
    for (const id of ['node-a', 'node-b', 'node-c']) { enrolled[id] = await enroll(tca, id) }
  })
  after(async () => { await tca.close() })
  afterEach(async () => {
    for (const m of members.splice(0)) {
      await m.service.stop()
      await m.node.stop()
      await m.agent.store.close()
      await m.ts.destroy()
    }
  })

  async function member (id: string, ts?: TempStore): Promise<Member> {
    const store = ts ?? await tempStore()
    const node = await startNode(id, enrolled[id], tca)
    const agent = await agentFor(enrolled[id], store.store, tca, clock)
    const service = new BundleService({ node, agent, tickMs: 200 })
    await service.start()
    const delivered: DeliveredBundle[] = []
    agent.addEventListener('bundle:delivered', (evt) => { delivered.push(evt.detail) })
    const m = { node, agent, service, ts: store, delivered }
    members.push(m)
    return m
  }

  async function leave (m: Member): Promise<TempStore> {
    members.splice(members.indexOf(m), 1)
    await m.service.stop()
    await m.node.stop()
    await m.agent.store.close()
    await m.ts.close()
    return m.ts
  }

  it('A -> C with C offline: C starts later and gets the bundle exactly once; A lets go after the ACK', async () => {
    const a = await member('node-a')
    const sent = await a.agent.send({ destination: 'node-c', ttlSec: 600, payload: Buffer.from('for c') })
    const c = await member('node-c')
    const got = waitForEvent<DeliveredBundle>(c.agent, 'bundle:delivered')
    await a.node.dial(c.node.getMultiaddrs()[0])
    expect((await got).bundleId).to.equal(sent.bundleId)
    await waitUntil(async () => (await a.agent.store.listOutbound()).length === 0)
    // more pumps, reconnects: still exactly once
    await a.service.pump('node-c')
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(c.delivered).to.have.lengthOf(1)
  })

  it('A -> C through relay B, A and C never connected at the same time', async () => {
    const a = await member('node-a')
    const b = await member('node-b')
    await a.agent.send({ destination: 'node-c', ttlSec: 600, payload: Buffer.from('relayed') })
    await a.node.dial(b.node.getMultiaddrs()[0])
    // B takes custody of a spray share
    await waitUntil(async () => (await b.agent.store.listOutbound()).length === 1)
    await leave(a)
    const c = await member('node-c')
    const got = waitForEvent<DeliveredBundle>(c.agent, 'bundle:delivered')
    await b.node.dial(c.node.getMultiaddrs()[0])
    const d = await got
    expect(d).to.include({ source: 'node-a', receivedFrom: 'node-b' })
    expect(Buffer.from(d.payload).toString()).to.equal('relayed')
    await waitUntil(async () => (await b.agent.store.listOutbound()).length === 0)
  })

  it('a 5 MiB payload crosses as fragments and arrives intact (SHA-256)', async () => {
    const a = await member('node-a')
    const c = await member('node-c')
    const payload = randomBytes(5 * 1024 * 1024)
    const got = waitForEvent<DeliveredBundle>(c.agent, 'bundle:delivered', () => true, 60_000)
    const sent = await a.agent.send({ destination: 'node-c', ttlSec: 600, payload })
    expect(sent.fragments).to.be.greaterThan(80)
    await a.node.dial(c.node.getMultiaddrs()[0])
    const d = await got
    const sha = (x: Uint8Array): string => createHash('sha256').update(x).digest('hex')
    expect(sha(d.payload)).to.equal(sha(payload))
    await waitUntil(async () => (await a.agent.store.listOutbound()).length === 0, 30_000)
    expect(c.delivered).to.have.lengthOf(1)
  })

  it('a forged bundle over the wire is acknowledged as rejected with its code, and nothing is stored', async () => {
    const b = await member('node-b')
    const c = await member('node-c')
    await b.node.dial(c.node.getMultiaddrs()[0])
    const stream = await b.node.openStream(c.node.peerId, PROTOCOL)
    const frames = new FrameStream(stream)
    const forged = await craft({ signer: enrolled['node-b'], sourceSsp: '//node-a/', destSsp: '//node-c/' })
    await frames.write({ t: 1, v: 1, b: forged, c: 1 })
    const ack = await frames.read({ signal: AbortSignal.timeout(5000) })
    expect(ack).to.deep.include({ t: 2, status: 'rejected', code: 'SOURCE_MISMATCH' })
    await stream.close()
    expect(c.agent.store.usage.entries).to.equal(0)
    expect(c.delivered).to.have.lengthOf(0)
  })

  it('a frame over the limit aborts the stream; nothing is stored', async () => {
    const b = await member('node-b')
    const c = await member('node-c')
    await b.node.dial(c.node.getMultiaddrs()[0])
    const stream = await b.node.openStream(c.node.peerId, PROTOCOL)
    stream.send(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))
    const frames = new FrameStream(stream)
    // the receiver aborts at once (the stream ends or errors), long before our 5 s deadline
    const started = Date.now()
    const result = await frames.read({ signal: AbortSignal.timeout(5000) }).catch(e => e)
    expect(result === null || (result instanceof Error && result.name !== 'TimeoutError')).to.equal(true)
    expect(Date.now() - started).to.be.lessThan(4000)
    expect(c.agent.store.usage.entries).to.equal(0)
  })

  it('a transfer planned while a drain to the same peer is finishing is still sent (not left in flight)', async () => {
    const a = await member('node-a')
    const b = await member('node-b')
    // 1. A's ACK bookkeeping is held back, so its drain to B sits in its last step (waiting for it)
    let open = (): void => {}
    const gate = new Promise<void>(resolve => { open = resolve })
    const complete = a.agent.completeTransfer.bind(a.agent)
    a.agent.completeTransfer = async (t, ack) => { await gate; await complete(t, ack) }
    await a.node.dial(b.node.getMultiaddrs()[0])
    const first = waitForEvent<DeliveredBundle>(b.agent, 'bundle:delivered')
    await a.agent.send({ destination: BROADCAST, ttlSec: 600, payload: Buffer.from('first') })
    await a.service.pump()
    await first
    await new Promise(resolve => setTimeout(resolve, 300))
    // 2. a second broadcast is planned for B now, while that drain still holds B's queue
    const second = await a.agent.send({ destination: BROADCAST, ttlSec: 600, payload: Buffer.from('second') })
    await a.service.pump()
    open()
    // 3. it arrives: it started a drain of its own instead of joining one that had stopped sending
    await waitUntil(async () => b.delivered.some(d => d.bundleId === second.bundleId), 5000)
    expect(b.delivered.map(d => Buffer.from(d.payload).toString())).to.deep.equal(['first', 'second'])
  })
})

/** Polls an async condition every 20 ms for up to 10 s. */
async function waitUntil (check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) { throw new Error('condition not met in time') }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
