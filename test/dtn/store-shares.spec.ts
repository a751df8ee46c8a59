import { expect } from 'aegir/chai'
import { decodeFrame, encodeFrame } from '../../protocols/bundle/codec.ts'
import { BundleStore } from '../../src/dtn/store/bundle-store.ts'
import { agentFor, Clock, craft, NOW, setupPki, tempStore } from './fixtures.ts'
import type { Pki, TempStore } from './fixtures.ts'
import type { AcceptItem, DeliveredMeta, OutboundMeta } from '../../src/dtn/store/bundle-store.ts'
import type { PeerIdentity } from '../../src/pki/peer-verifier.ts'

/**
 * The bundle store's quota split (src/dtn/store/bundle-shares.ts) on a real LevelDB: a share per
 * source node_id and per neighbour, a reserve for bundles addressed to this node, forward-only
 * copies evicted largest remaining lifetime first, refusals with their codes writing nothing,
 * and the books rebuilt at open. The first suite drives the store with records of chosen sizes
 * and lifetimes; the second sends real signed bundles through an agent.
 */

const HOUR = 3600_000
const DAY = 24 * HOUR
const SELF = 'node-self'

function signerOf (nodeId: string): PeerIdentity {
  return { nodeId, peerId: `peer-${nodeId}`, serialHex: '1f', notBefore: 0, notAfter: NOW + 60 * DAY, spki: new Uint8Array([1, 2, 3]), fingerprint: 'aa', issuerFingerprint: 'bb' }
}

let seq = 0

/** A forward-only copy of `source`'s bundle handed over by `from`, of `size` bytes, expiring at `expiresAt`. */
function forward (source: string, from: string | undefined, size: number, expiresAt: number): AcceptItem & { type: 'outbound' } {
  const meta: OutboundMeta = {
    id: { source, createdAt: NOW, sequence: seq++ },
    offset: 0,
    length: size,
    fragmented: false,
    aduLength: size,
    destination: 'node-far',
    broadcast: false,
    createdAt: NOW,
    expiresAt,
    hopCount: 1,
    hopLimit: 32,
    copies: 1,
    attempts: 0,
    nextAttemptAt: NOW,
    sentTo: [],
    ...(from == null ? {} : { receivedFrom: from }),
    acceptedAt: NOW,
    signer: signerOf(source)
  }
  return { type: 'outbound', meta, bytes: new Uint8Array(size) }
}

/** A bundle from `source` addressed to this node (an inbox entry), of `size` bytes. */
function local (source: string, from: string, size: number, expiresAt = NOW + HOUR): AcceptItem & { type: 'delivered' } {
  const meta: DeliveredMeta = {
    id: { source, createdAt: NOW, sequence: seq++ },
    destination: SELF,
    createdAt: NOW,
    expiresAt,
    aduLength: size,
    aduDigest: new Uint8Array(32),
    deliveredAt: NOW,
    receivedFrom: from,
    signer: signerOf(source)
  }
  return { type: 'delivered', meta, payload: new Uint8Array(size) }
}

async function refusal (p: Promise<unknown>): Promise<any> {
  return p.then(() => { throw new Error('expected a refusal') }, (err: unknown) => err)
}

describe('dtn / store shares: per source, per neighbour, local reserve, eviction order', function () {
  let ts: TempStore
  beforeEach(async () => { ts = await tempStore() })
  afterEach(async () => { await ts.destroy() })

  const QUOTA = 100_000
  const open = async (shares?: { localReserve?: number, perSource?: number, perNeighbour?: number }): Promise<BundleStore> =>
    BundleStore.open(ts.store, { quotaBytes: QUOTA, self: SELF, ...(shares == null ? {} : { shares }) })

  it('one member fills its share: SOURCE_SHARE_EXCEEDED, nothing written; another member\'s bundles, to this node and to forward, are still accepted', async () => {
    const s = await open()
    expect(s.shares).to.deep.equal({ quota: QUOTA, forwardPool: 75_000, perSource: 25_000, perNeighbour: 50_000 })
    // node-m hands over its own 30-day bundles until its share is full
    let refused: any
    let last: OutboundMeta | undefined
    for (let i = 0; i < 100 && refused == null; i++) {
      const item = forward('node-m', 'node-m', 2000, NOW + 30 * DAY + i)
      last = item.meta
      refused = await s.accept([item]).then(() => undefined, (err: unknown) => err)
    }
    expect(refused).to.include({ name: 'BundleStoreError', code: 'SOURCE_SHARE_EXCEEDED' })
    // the refused one left nothing: not seen, not held, nothing charged
    expect(await s.hasSeen((last as OutboundMeta).id)).to.equal(false)
    expect(await s.getOutbound((last as OutboundMeta).id)).to.equal(undefined)
    const held = s.usage
    expect(s.shareUsage({ source: 'node-m' })).to.equal(held.bytes).and.to.be.at.most(25_000)
    expect(s.evicted).to.equal(0)
    // node-n: a bundle to this node, and one to forward, both accepted beside the full share
    const mine = local('node-n', 'node-n', 2000)
    expect(await s.accept([mine])).to.deep.equal(['accepted'])
    expect(await s.getDelivered(mine.meta.id, NOW)).to.not.equal(undefined)
    const relayed = forward('node-n', 'node-n', 2000, NOW + HOUR)
    expect(await s.accept([relayed])).to.deep.equal(['accepted'])
    // and node-m's share is still exactly what it was: nothing of it was evicted for them
    expect(s.shareUsage({ source: 'node-m' })).to.equal(held.bytes)
    expect(s.evicted).to.equal(0)
  })

  it('a member\'s bundle to this node displaces that member\'s own forward-only copies, the longest-lived first', async () => {
    const s = await open()
    const copies: OutboundMeta[] = []
    for (let i = 0; ; i++) {
      const item = forward('node-m', 'node-m', 2000, NOW + (i + 1) * HOUR)
      if (await s.accept([item]).then(() => false, () => true)) { break }
      copies.push(item.meta)
    }
    const before = s.shareUsage({ source: 'node-m' })
    // a 3000-byte bundle for us does not fit node-m's share: its longest-lived copy gives way
    const mine = local('node-m', 'node-m', 3000)
    expect(await s.accept([mine])).to.deep.equal(['accepted'])
    const longest = copies[copies.length - 1]
    expect(await s.getOutbound(longest.id)).to.equal(undefined)
    // evicted copies stay seen: the same bundle is not taken back
    expect(await s.hasSeen(longest.id)).to.equal(true)
    for (const m of copies.slice(0, -2)) { expect(await s.getOutbound(m.id)).to.not.equal(undefined) }
    expect(s.evicted).to.be.within(1, 2)
    expect(s.shareUsage({ source: 'node-m' })).to.be.at.most(25_000).and.to.be.greaterThan(before - 2 * 3000)
  })

  it('one neighbour fills its share with other sources\' bundles: NEIGHBOUR_SHARE_EXCEEDED, nothing written', async () => {
    const s = await open()
    let refused: any
    let sources = 0
    let last: OutboundMeta | undefined
    for (let i = 0; i < 200 && refused == null; i++) {
      // a different source each time: no source share binds, the neighbour's does
      const item = forward(`node-x${i}`, 'node-gw', 2000, NOW + DAY)
      last = item.meta
      refused = await s.accept([item]).then(() => undefined, (err: unknown) => err)
      if (refused == null) { sources++ }
    }
    expect(refused).to.include({ name: 'BundleStoreError', code: 'NEIGHBOUR_SHARE_EXCEEDED' })
    expect(await s.hasSeen((last as OutboundMeta).id)).to.equal(false)
    expect(s.shareUsage({ neighbour: 'node-gw' })).to.be.at.most(50_000).and.to.equal(s.usage.bytes)
    expect(sources).to.be.greaterThan(1)
    // another neighbour still hands bundles over
    expect(await s.accept([forward('node-x0', 'node-other', 2000, NOW + DAY)])).to.deep.equal(['accepted'])
  })

  it('a bundle addressed to this node is accepted when forward-only copies fill the store: the copy with the largest remaining lifetime is evicted first', async () => {
    const s = await open({ perNeighbour: 1 })
    // four sources fill the forward pool (75,000 bytes) with copies of mixed, known lifetimes
    const copies: OutboundMeta[] = []
    const lifetimes = [2, 30 * 24, 5, 7 * 24, 1, 3, 12, 29 * 24] // hours
    const first = forward('node-s0', 'node-s0', 2000, NOW + lifetimes[0] * HOUR)
    await s.accept([first])
    copies.push(first.meta)
    const each = s.usage.bytes
    for (let i = 1; (i + 1) * each <= 75_000; i++) {
      const item = forward(`node-s${i % 4}`, `node-s${i % 4}`, 2000, NOW + lifetimes[i % lifetimes.length] * HOUR + i)
      expect(await s.accept([item])).to.deep.equal(['accepted'])
      copies.push(item.meta)
    }
    // the pool is full: another forward-only copy that would outlive them all is refused
    const outliving = forward('node-s1', 'node-s1', 2000, NOW + 30 * DAY + HOUR)
    expect(await refusal(s.accept([outliving]))).to.include({ name: 'BundleStoreError', code: 'QUOTA_EXCEEDED' })
    expect(s.usage.bytes).to.equal(copies.length * each).and.to.be.at.most(75_000)
    expect(s.evicted).to.equal(0)
    // bundles for this node (smaller than a copy: one eviction frees room for one) fill the
    // reserve, then take space from the copies, longest-lived first
    const byLifetime = [...copies].sort((a, b) => b.expiresAt - a.expiresAt)
    let i = 0
    while (s.evicted < 3) {
      const mine = local(`node-l${i % 8}`, `node-l${i % 8}`, 1000)
      expect(await s.accept([mine]), `local bundle ${i}`).to.deep.equal(['accepted'])
      expect(s.usage.bytes).to.be.at.most(QUOTA)
      i++
    }
    // exactly the three longest-lived copies went, in that order; every other copy is held
    for (const [k, m] of byLifetime.entries()) {
      expect(await s.getOutbound(m.id) == null, `copy expiring at +${(m.expiresAt - NOW) / HOUR} h`).to.equal(k < 3)
    }
    expect(byLifetime[0].expiresAt - NOW).to.be.greaterThan(29 * DAY)
  })

  it('a forward-only copy displaces only copies that outlive it: a longer-lived one is refused (QUOTA_EXCEEDED), a shorter-lived one evicts the longest', async () => {
    const s = await open({ localReserve: 0.25, perSource: 1, perNeighbour: 1 })
    const copies: OutboundMeta[] = []
    for (let i = 0; ; i++) {
      const item = forward('node-a', 'node-a', 2000, NOW + (10 + i) * HOUR)
      if (await s.accept([item]).then(() => false, () => true)) { break }
      copies.push(item.meta)
    }
    const usage = s.usage
    const longer = forward('node-b', 'node-b', 2000, NOW + 30 * DAY)
    expect(await refusal(s.accept([longer]))).to.include({ name: 'BundleStoreError', code: 'QUOTA_EXCEEDED' })
    expect(s.usage).to.deep.equal(usage)
    expect(await s.hasSeen(longer.meta.id)).to.equal(false)
    const shorter = forward('node-b', 'node-b', 2000, NOW + HOUR)
    expect(await s.accept([shorter])).to.deep.equal(['accepted'])
    expect(await s.getOutbound(copies[copies.length - 1].id)).to.equal(undefined)
    expect(await s.getOutbound(copies[0].id)).to.not.equal(undefined)
    expect(s.evicted).to.equal(1)
  })

  it('this node\'s own bundles are charged to no source share and never evicted', async () => {
    const s = await open()
    for (let i = 0; i < 20; i++) { expect(await s.accept([forward(SELF, undefined, 2000, NOW + 30 * DAY)])).to.deep.equal(['accepted']) }
    // beyond any one source's share (25,000), within the forward pool
    expect(s.usage.bytes).to.be.greaterThan(25_000)
    expect(s.shareUsage({ source: SELF })).to.equal(0)
    // bundles for this node fill the rest of the store: none of ours gives way, so the store refuses
    let refused: any
    for (let i = 0; i < 100 && refused == null; i++) {
      refused = await s.accept([local(`node-l${i % 8}`, `node-l${i % 8}`, 2000)]).then(() => undefined, (err: unknown) => err)
    }
    expect(refused).to.include({ name: 'BundleStoreError', code: 'QUOTA_EXCEEDED' })
    expect(s.evicted).to.equal(0)
    expect(await s.listOutbound(100)).to.have.lengthOf(20)
  })

  it('the books survive a restart: a full share is still full, and what each source and neighbour holds is the same', async () => {
    let s = await open()
    for (let i = 0; ; i++) {
      if (await s.accept([forward('node-m', 'node-gw', 2000, NOW + DAY)]).then(() => false, () => true)) { break }
    }
    await s.accept([local('node-n', 'node-gw', 2000)])
    const m = s.shareUsage({ source: 'node-m' })
    const gw = s.shareUsage({ neighbour: 'node-gw' })
    await s.close()
    s = await BundleStore.open(await ts.reopen(), { quotaBytes: QUOTA, self: SELF })
    expect(s.shareUsage({ source: 'node-m' })).to.equal(m)
    expect(s.shareUsage({ neighbour: 'node-gw' })).to.equal(gw)
    expect(s.shareUsage({ source: 'node-n' })).to.equal(gw - m)
    const again = forward('node-m', 'node-gw', 2000, NOW + DAY)
    expect(await refusal(s.accept([again]))).to.include({ code: 'SOURCE_SHARE_EXCEEDED' })
    expect(await s.hasSeen(again.meta.id)).to.equal(false)
    await s.close()
  })
})

describe('dtn / store shares through the agent: real signed bundles from two members', function () {
  let pki: Pki
  let ts: TempStore
  const clock = new Clock()
  before(async () => { pki = await setupPki() })
  after(async () => { await pki.close() })
  beforeEach(async () => { ts = await tempStore() })
  afterEach(async () => { await ts.destroy() })

  it('node-a fills its share at node-b (SOURCE_SHARE_EXCEEDED, refused whole); node-c\'s bundle to node-b is still accepted and delivered', async () => {
    const b = await agentFor(pki.b, ts.store, pki.tca, clock, { quotaBytes: 120_000 })
    let refused: any
    let refusedSeq = -1
    const accepted: number[] = []
    for (let sequence = 0; sequence < 100 && refused == null; sequence++) {
      const bytes = await craft({ signer: pki.a, destSsp: '//node-far/', sequence, ttlSec: 30 * 24 * 3600, payload: new Uint8Array(4000).fill(sequence) })
      try {
        await b.receive(bytes, { from: 'node-a' })
        accepted.push(sequence)
      } catch (err) {
        refused = err
        refusedSeq = sequence
      }
    }
    expect(refused).to.include({ name: 'BundleStoreError', code: 'SOURCE_SHARE_EXCEEDED' })
    expect(await b.store.hasSeen({ source: 'node-a', createdAt: NOW, sequence: refusedSeq })).to.equal(false)
    expect(b.store.shareUsage({ source: 'node-a' })).to.be.at.most(30_000)
    expect((await b.store.listOutbound(200)).map(m => m.id.sequence)).to.deep.equal(accepted)
    // the refusal travels in an ACK with its code, so the sender keeps custody and retries later
    const ack = decodeFrame(encodeFrame({ t: 2, id: { source: 'node-a', createdAt: NOW, sequence: refusedSeq }, offset: 0, status: 'rejected', code: refused.code }))
    expect(ack).to.include({ status: 'rejected', code: 'SOURCE_SHARE_EXCEEDED' })
    // another member's bundle to node-b: accepted and delivered
    const delivered = await b.receive(await craft({ signer: pki.c, destSsp: '//node-b/', sequence: 0, payload: Buffer.from('for b') }), { from: 'node-c' })
    expect(delivered.status).to.equal('accepted')
    expect(Buffer.from(delivered.delivered?.payload ?? []).toString()).to.equal('for b')
    expect((await b.store.listInbox(NOW)).map(d => d.meta.id.source)).to.deep.equal(['node-c'])
    await b.store.close()
  })
})
