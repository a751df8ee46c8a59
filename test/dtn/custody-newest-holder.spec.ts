import { expect } from 'aegir/chai'
import { BundleService } from '../../protocols/bundle/bundle-service.ts'
import { chooseHolders, compareSerials } from '../../src/dtn/holders.ts'
import { createTestCa, enroll, startNode, waitForEvent } from '../node/fixtures.ts'
import { agentFor, Clock, NOW, tempStore } from './fixtures.ts'
import type { TempStore } from './fixtures.ts'
import type { BundleAgent, DeliveredBundle } from '../../src/dtn/bundle-agent.ts'
import type { HolderCandidate, HolderRefusal } from '../../src/dtn/holders.ts'
import type { MeshNode } from '../../src/node/index.ts'
import type { Enrolled, TestCa } from '../node/fixtures.ts'

/**
 * Bundles for a node_id go only to the peer holding the newest live certificate of that node_id
 * (src/dtn/holders.ts, protocols/bundle/bundle-service.ts). Two holders of node-x are enrolled
 * straight at the CA (MeshCa.issue: the enrollment service's own refusal is tested elsewhere),
 * the older certificate issued an hour before the newer; real mesh nodes on QUIC loopback, real
 * LevelDB stores.
 */

interface Member { name: string, node: MeshNode, agent: BundleAgent, service: BundleService, ts: TempStore, delivered: DeliveredBundle[], refused: HolderRefusal[] }

describe('dtn / custody goes only to the newest holder of a node_id', function () {
  let tca: TestCa
  let a: Enrolled
  let xOld: Enrolled
  let xNew: Enrolled
  const members: Member[] = []
  const clock = new Clock()

  before(async () => {
    tca = await createTestCa('newest-holder')
    a = await enroll(tca, 'node-a')
    xOld = await enroll(tca, 'node-x', { issuedAt: NOW - 2 * 3600_000 })
    xNew = await enroll(tca, 'node-x', { issuedAt: NOW - 3600_000 })
  })
  after(async () => { await tca.close() })
  afterEach(async () => { for (const m of members.splice(0)) { await stopMember(m) } })

  async function member (name: string, enrolled: Enrolled): Promise<Member> {
    const ts = await tempStore()
    const node = await startNode(name, enrolled, tca)
    const agent = await agentFor(enrolled, ts.store, tca, clock)
    const service = new BundleService({ node, agent, tickMs: 200 })
    const m: Member = { name, node, agent, service, ts, delivered: [], refused: [] }
    service.addEventListener('custody:refused', (evt) => { m.refused.push(evt.detail) })
    agent.addEventListener('bundle:delivered', (evt) => { m.delivered.push(evt.detail) })
    await service.start()
    members.push(m)
    return m
  }

  async function stopMember (m: Member): Promise<void> {
    const i = members.indexOf(m)
    if (i >= 0) { members.splice(i, 1) }
    await m.service.stop()
    await m.node.stop()
    await m.agent.store.close()
    await m.ts.destroy()
  }

  const authenticated = (m: Member, peerId: string): boolean => m.node.peers.get(peerId)?.status === 'authenticated'

  async function connect (from: Member, to: Member): Promise<void> {
    const seen = waitForEvent(to.node, 'peer:authenticated', (p: { peerId: string }) => p.peerId === from.node.peerId.toString(), 20_000)
    await from.node.dial(to.node.getMultiaddrs()[0])
    await seen
  }

  it('both holders connected: the bundle is delivered to the newest only; the older is refused HOLDER_SUPERSEDED and stores nothing', async () => {
    const sender = await member('node-a', a)
    const older = await member('x-old', xOld)
    const newer = await member('x-new', xNew)
    // the older holder authenticates last: "the latest to connect" would pick it
    await connect(newer, sender)
    const refusedOld = waitForEvent<HolderRefusal>(sender.service, 'custody:refused', r => r.peerId === older.node.peerId.toString(), 10_000)
    await connect(older, sender)
    expect(authenticated(sender, older.node.peerId.toString()) && authenticated(sender, newer.node.peerId.toString())).to.equal(true)
    const got = waitForEvent<DeliveredBundle>(newer.agent, 'bundle:delivered', () => true, 20_000)
    const sent = await sender.agent.send({ destination: 'node-x', ttlSec: 600, payload: Buffer.from('for the current node-x') })
    void sender.service.pump()
    expect((await got).bundleId).to.equal(sent.bundleId)
    expect(await refusedOld).to.deep.equal({ peerId: older.node.peerId.toString(), nodeId: 'node-x', serialHex: xOld.serialHex, code: 'HOLDER_SUPERSEDED' })
    // custody released only after the newest holder's ACK
    await waitUntil(async () => (await sender.agent.store.listOutbound()).length === 0)
    expect(older.delivered).to.have.lengthOf(0)
    expect(older.agent.store.usage.entries).to.equal(0)
    expect(await older.agent.store.hasSeen(sent.id)).to.equal(false)
  })

  it('the newest holder went away: the older one is never handed the bundle; it waits and reaches the newest when it returns', async () => {
    const sender = await member('node-a', a)
    let newer = await member('x-new', xNew)
    await connect(newer, sender)
    // node-x's newest certificate is known; its holder leaves
    await stopMember(newer)
    const older = await member('x-old', xOld)
    const refusedOld = waitForEvent<HolderRefusal>(sender.service, 'custody:refused', r => r.peerId === older.node.peerId.toString(), 10_000)
    await connect(older, sender)
    expect(await refusedOld).to.include({ code: 'HOLDER_SUPERSEDED', nodeId: 'node-x' })
    const sent = await sender.agent.send({ destination: 'node-x', ttlSec: 600, payload: Buffer.from('not for the old holder') })
    // planned with the older holder connected: nothing is sent to it, nothing is in flight
    await sender.service.pump()
    await sender.service.pump('node-x')
    expect(sender.agent.planner.inFlight).to.equal(0)
    expect((await sender.agent.store.listOutbound()).map(m => m.id.sequence)).to.deep.equal([sent.id.sequence])
    // the newest holder comes back: it gets the bundle, and only then does the sender let go
    newer = await member('x-new', xNew)
    const got = waitForEvent<DeliveredBundle>(newer.agent, 'bundle:delivered', () => true, 20_000)
    await connect(newer, sender)
    expect((await got).bundleId).to.equal(sent.bundleId)
    await waitUntil(async () => (await sender.agent.store.listOutbound()).length === 0)
    expect(older.delivered).to.have.lengthOf(0)
    expect(older.agent.store.usage.entries).to.equal(0)
    expect(await older.agent.store.hasSeen(sent.id)).to.equal(false)
  })
})

describe('dtn / holders: choosing the newest live certificate per node_id', function () {
  const peer = (peerId: string, nodeId: string, serialHex: string, notBefore: number, status = 'authenticated', notAfter = NOW + 3600_000): HolderCandidate =>
    ({ peerId, nodeId, status, identity: { serialHex, notBefore, notAfter } })

  it('newest by notBefore, then by serial; revoked and expired certificates are refused with their codes and never count as newer', () => {
    const peers = [
      peer('p1', 'x', '0a', NOW - 2000),
      peer('p2', 'x', '05', NOW - 1000),
      peer('p3', 'y', '0b', NOW - 1000),
      peer('p4', 'y', '0c', NOW - 1000),
      peer('p5', 'z', '01', NOW - 1000),
      peer('p6', 'z', '02', NOW, 'authenticated'),
      peer('p7', 'w', '01', NOW - 5000),
      peer('p8', 'w', '02', NOW, 'disconnected'),
      peer('p9', 'v', '03', NOW - 1000, 'authenticated', NOW)
    ]
    const { eligible, refused } = chooseHolders(peers, NOW, p => p.peerId === 'p6')
    expect(Object.fromEntries(eligible)).to.deep.equal({ x: 'p2', y: 'p4', z: 'p5' })
    expect(refused.map(r => [r.peerId, r.code])).to.deep.equal([
      ['p1', 'HOLDER_SUPERSEDED'],
      ['p3', 'HOLDER_SUPERSEDED'],
      ['p6', 'HOLDER_REVOKED'],
      // the newer holder of w is not connected: the older is still refused, the bundle waits
      ['p7', 'HOLDER_SUPERSEDED'],
      ['p9', 'HOLDER_EXPIRED']
    ])
    // a revocation check that throws fails closed
    expect(chooseHolders([peer('p1', 'x', '01', NOW)], NOW, () => { throw new Error('no CRL') }).refused[0].code).to.equal('HOLDER_REVOKED')
    expect(compareSerials('00ff', 'FE')).to.be.greaterThan(0)
    expect(compareSerials('0a', '0A')).to.equal(0)
  })
})

async function waitUntil (check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) { throw new Error(`condition not met within ${ms} ms`) }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
