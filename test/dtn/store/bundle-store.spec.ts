import { expect } from 'aegir/chai'
import { BundleStore, ENTRY_OVERHEAD_BYTES, partKey } from '../../../src/dtn/store/bundle-store.ts'
import { NOW, tempStore } from '../fixtures.ts'
import type { DeliveredMeta, FragmentMeta, OutboundMeta } from '../../../src/dtn/store/bundle-store.ts'
import type { PeerIdentity } from '../../../src/pki/peer-verifier.ts'
import type { TempStore } from '../fixtures.ts'

const signer: PeerIdentity = {
  nodeId: 'node-a',
  peerId: '12D3KooWxxx',
  serialHex: '1f',
  notBefore: 0,
  notAfter: NOW + 86_400_000,
  spki: new Uint8Array([1, 2, 3]),
  fingerprint: 'aa',
  issuerFingerprint: 'bb'
}

function meta (sequence: number, extra: Partial<OutboundMeta> = {}): OutboundMeta {
  return {
    id: { source: 'node-a', createdAt: NOW, sequence },
    offset: 0,
    length: 100,
    fragmented: false,
    aduLength: 100,
    destination: 'node-c',
    broadcast: false,
    createdAt: NOW,
    expiresAt: NOW + 60_000,
    hopCount: 0,
    hopLimit: 32,
    copies: 1,
    attempts: 0,
    nextAttemptAt: NOW,
    sentTo: [],
    acceptedAt: NOW,
    signer,
    ...extra
  }
}

describe('store / bundle store on LevelDB', function () {
  let ts: TempStore
  beforeEach(async () => { ts = await tempStore() })
  afterEach(async () => { await ts.destroy() })

  it('keeps bundles, their indexes and the quota usage across a restart', async () => {
    let s = await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(100) }])
    await s.accept([{ type: 'outbound', meta: meta(2, { destination: 'node-d', nextAttemptAt: NOW + 5000 }), bytes: new Uint8Array(100) }])
    const usage = s.usage
    expect(usage.entries).to.equal(2)
    await s.close()
    s = await BundleStore.open(await ts.reopen(), { quotaBytes: 1 << 20 })
    expect(s.usage).to.deep.equal(usage)
    expect((await s.dueOutbound(NOW)).map(m => m.id.sequence)).to.deep.equal([1])
    expect((await s.dueOutbound(NOW + 5000)).map(m => m.id.sequence)).to.deep.equal([1, 2])
    expect((await s.outboundFor('node-d', false)).map(m => m.id.sequence)).to.deep.equal([2])
    expect(await s.nextAttemptTime()).to.equal(NOW)
    expect((await s.getOutbound(meta(1).id))?.bytes).to.have.lengthOf(100)
  })

  it('deduplicates by part: the same bundle twice is one entry', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    expect(await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])).to.deep.equal(['accepted'])
    expect(await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])).to.deep.equal(['duplicate'])
    // and after release (custody passed on) it is still known, until it expires
    await s.release(meta(1).id)
    expect(await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])).to.deep.equal(['duplicate'])
    expect(s.usage.entries).to.equal(0)
  })

  it('group-commits concurrent accepts: all durable, each decided on its own', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 24 })
    const results = await Promise.all(Array.from({ length: 300 }, async (_, i) => s.accept([{ type: 'outbound', meta: meta(i % 200), bytes: new Uint8Array(50) }])))
    expect(results.filter(r => r[0] === 'accepted')).to.have.lengthOf(200)
    expect(results.filter(r => r[0] === 'duplicate')).to.have.lengthOf(100)
    await s.close()
    const again = await BundleStore.open(await ts.reopen(), { quotaBytes: 1 << 24 })
    expect(await again.listOutbound(1000)).to.have.lengthOf(200)
    expect(again.usage.entries).to.equal(200)
  })

  it('refuses what does not fit the quota (QUOTA_EXCEEDED), atomically, and frees room on release', async () => {
    const quota = 3 * (ENTRY_OVERHEAD_BYTES + 1000)
    // the whole quota alone: no reserve, no shares (test/dtn/store-shares.spec.ts covers those)
    const s = await BundleStore.open(ts.store, { quotaBytes: quota, shares: { localReserve: 0, perSource: 1, perNeighbour: 1 } })
    await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(500) }])
    // two parts in one change: neither is kept when together they do not fit
    const err = await s.accept([
      { type: 'outbound', meta: meta(2), bytes: new Uint8Array(1000) },
      { type: 'outbound', meta: meta(3), bytes: new Uint8Array(1000) }
    ]).catch(e => e)
    expect(err).to.include({ name: 'BundleStoreError', code: 'QUOTA_EXCEEDED' })
    expect(await s.hasSeen(meta(2).id)).to.equal(false)
    expect(await s.listOutbound()).to.have.lengthOf(1)
    await s.release(meta(1).id)
    expect(await s.accept([{ type: 'outbound', meta: meta(2), bytes: new Uint8Array(1000) }])).to.deep.equal(['accepted'])
  })

  it('sweeps expired entries in pages, and only expired ones', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 24 })
    for (let i = 0; i < 30; i++) { await s.accept([{ type: 'outbound', meta: meta(i, { expiresAt: NOW + 1000 * (i + 1) }), bytes: new Uint8Array(10) }]) }
    expect(await s.sweep(NOW + 10_000, 4)).to.equal(4)
    expect(await s.sweep(NOW + 10_000, 100)).to.equal(6)
    expect(await s.listOutbound(100)).to.have.lengthOf(20)
    expect(await s.hasSeen(meta(9).id)).to.equal(false)
    expect(await s.hasSeen(meta(10).id)).to.equal(true)
    expect(s.usage.entries).to.equal(20)
  })

  it('a sweep and a release of the same bundle in one group credit its bytes once', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 24 })
    await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])
    // the first write holds the queue, so the release and the sweep are decided in one group
    await Promise.all([s.putState('x', 1), s.release(meta(1).id), s.sweep(NOW + 60_000)])
    expect(s.usage).to.deep.equal({ bytes: 0, entries: 0 })
  })
})

describe('store / bundle store: one key per accept, indexes rebuilt at open, pipelined group commit', function () {
  let ts: TempStore
  beforeEach(async () => { ts = await tempStore() })
  afterEach(async () => { await ts.destroy() })

  const count = async (name: 'dtn-bundles' | 'dtn-seen' | 'dtn-fragments' | 'dtn-inbox' | 'dtn-outbound' | 'dtn-by-dest' | 'dtn-expiry'): Promise<number> => {
    return (await ts.store.sublevel(name).keys().all()).length
  }
  const fragmentMeta = (sequence: number, offset: number, length: number, total: number): FragmentMeta => ({
    id: { source: 'node-a', createdAt: NOW, sequence }, offset, length, totalLength: total, aduDigest: new Uint8Array(32), destination: 'node-c', createdAt: NOW, expiresAt: NOW + 30_000, signer
  })
  const deliveredMeta = (sequence: number, expiresAt = NOW + 60_000): DeliveredMeta => ({
    id: { source: 'node-a', createdAt: NOW, sequence }, destination: 'node-c', createdAt: NOW, expiresAt, aduLength: 3, aduDigest: new Uint8Array(32), deliveredAt: NOW, signer
  })

  it('accepting a part writes one key (its record); the seen id is written only when custody passes', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])
    expect([await count('dtn-bundles'), await count('dtn-seen')]).to.deep.equal([1, 0])
    // the record stands for "seen" while it is held
    expect(await s.hasSeen(meta(1).id)).to.equal(true)
    expect(await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])).to.deep.equal(['duplicate'])
    // custody passed: the record goes, the seen id takes over in the same batch
    await s.release(meta(1).id)
    expect([await count('dtn-bundles'), await count('dtn-seen')]).to.deep.equal([0, 1])
    await s.close()
    // and after a restart it is still refused as a duplicate
    const again = await BundleStore.open(await ts.reopen(), { quotaBytes: 1 << 20 })
    expect(await again.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])).to.deep.equal(['duplicate'])
    expect(again.usage.entries).to.equal(0)
  })

  it('rebuilds the schedule, by-destination, spray and expiry indexes, fragments, inbox and usage from the records at open', async () => {
    let s = await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    await s.accept([{ type: 'outbound', meta: meta(1, { nextAttemptAt: NOW + 2000, copies: 4 }), bytes: new Uint8Array(10) }])
    await s.accept([{ type: 'outbound', meta: meta(2, { destination: 'node-d', expiresAt: NOW + 10_000 }), bytes: new Uint8Array(10) }])
    await s.accept([{ type: 'outbound', meta: { ...meta(3), broadcast: true, destination: 'broadcast' }, bytes: new Uint8Array(10) }])
    await s.accept([{ type: 'fragment', meta: fragmentMeta(4, 0, 100, 300), payload: new Uint8Array(100) }])
    await s.accept([{ type: 'delivered', meta: deliveredMeta(5), payload: new Uint8Array(3) }])
    const usage = s.usage
    expect(usage.entries).to.equal(5)
    await s.close()

    s = await BundleStore.open(await ts.reopen(), { quotaBytes: 1 << 20 })
    expect(s.usage).to.deep.equal(usage)
    expect(s.outboundCount).to.equal(3)
    expect((await s.dueOutbound(NOW)).map(m => m.id.sequence)).to.deep.equal([2, 3])
    expect(await s.nextAttemptTime()).to.equal(NOW)
    expect((await s.outboundFor('node-c', false)).map(m => m.id.sequence)).to.deep.equal([1])
    expect((await s.outboundFor('node-d', false)).map(m => m.id.sequence)).to.deep.equal([2])
    expect((await s.outboundFor('', true)).map(m => m.id.sequence)).to.deep.equal([3])
    expect((await s.sprayable()).map(m => m.id.sequence)).to.deep.equal([1])
    // held fragments and inbox entries count as seen through their records
    expect(await s.hasSeen(fragmentMeta(4, 0, 100, 300).id, 0)).to.equal(true)
    expect(await s.hasSeen(deliveredMeta(5).id)).to.equal(true)
    expect(await s.listReassembly()).to.have.lengthOf(1)
    // the expiry index came back too: at NOW + 10 s the node-d bundle goes, at NOW + 30 s the fragment
    expect(await s.sweep(NOW + 10_000)).to.equal(1)
    expect((await s.outboundFor('node-d', false))).to.deep.equal([])
    expect(await s.sweep(NOW + 30_000)).to.equal(1)
    expect(await s.listReassembly()).to.deep.equal([])
    expect(s.usage.entries).to.equal(3)
  })

  it('a retry schedule change writes nothing; after a restart the schedule is the record\'s', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    await s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])
    const before = await ts.store.sublevel<Uint8Array>('dtn-bundles').get(partKey(meta(1).id, 0))
    expect(s.reschedule(meta(1).id, 0, { attempts: 3, nextAttemptAt: NOW + 9000 })).to.equal(true)
    expect(await s.dueOutbound(NOW)).to.deep.equal([])
    expect((await s.dueOutbound(NOW + 9000))[0]).to.include({ attempts: 3, nextAttemptAt: NOW + 9000 })
    expect(await ts.store.sublevel<Uint8Array>('dtn-bundles').get(partKey(meta(1).id, 0))).to.deep.equal(before)
    await s.close()
    const again = await BundleStore.open(await ts.reopen(), { quotaBytes: 1 << 20 })
    // a node that was down retries at once
    expect((await again.dueOutbound(NOW)).map(m => m.id.sequence)).to.deep.equal([1])
  })

  it('a reassembly that completes leaves one inbox record and the fragments\' seen ids', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    await s.accept([{ type: 'fragment', meta: fragmentMeta(7, 0, 100, 200), payload: new Uint8Array(100) }])
    await s.accept([{ type: 'delivered', meta: deliveredMeta(7, NOW + 30_000), payload: new Uint8Array(200), offset: 100 }])
    expect([await count('dtn-fragments'), await count('dtn-inbox'), await count('dtn-seen')]).to.deep.equal([0, 1, 2])
    expect(await s.hasSeen(fragmentMeta(7, 0, 100, 200).id, 0)).to.equal(true)
    expect(await s.hasSeen(fragmentMeta(7, 0, 100, 200).id, 100)).to.equal(true)
    expect(s.usage.entries).to.equal(1)
    // expiry clears it all: records by the expiry index, seen ids by the page scan
    expect(await s.sweep(NOW + 30_000)).to.equal(2)
    expect([await count('dtn-inbox'), await count('dtn-seen')]).to.deep.equal([0, 0])
  })

  it('a failed batch fails the group decided on top of it; nothing of either is applied', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    const db = ts.store.db as any
    const batch = db.batch.bind(db)
    let calls = 0
    // the store writes through chained batches: the first one's write fails, late
    db.batch = (...args: unknown[]) => {
      const b = batch(...args)
      if (args.length === 0 && calls++ === 0) {
        b.write = async () => {
          await new Promise(resolve => setTimeout(resolve, 50))
          await b.close()
          throw new Error('disk full')
        }
      }
      return b
    }
    const first = s.accept([{ type: 'outbound', meta: meta(1), bytes: new Uint8Array(10) }])
    // queued while the first group is on its way to disk: decided on top of it
    await new Promise(resolve => setTimeout(resolve, 10))
    const second = s.accept([{ type: 'outbound', meta: meta(2), bytes: new Uint8Array(10) }])
    expect((await first.catch(e => e)).message).to.equal('disk full')
    expect((await second.catch(e => e)).message).to.equal('disk full')
    expect(s.usage).to.deep.equal({ bytes: 0, entries: 0 })
    expect(await s.hasSeen(meta(2).id)).to.equal(false)
    // the next write goes through
    expect(await s.accept([{ type: 'outbound', meta: meta(2), bytes: new Uint8Array(10) }])).to.deep.equal(['accepted'])
    expect(s.outboundCount).to.equal(1)
  })

  it('accepting parts never seen reads nothing; parts seen before are still refused, by a read', async () => {
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 24 })
    // 1. 50 accepted and handed on: their seen ids are on disk
    for (let i = 0; i < 50; i++) { await s.accept([{ type: 'outbound', meta: meta(i), bytes: new Uint8Array(10) }]) }
    for (let i = 0; i < 50; i++) { await s.release(meta(i).id) }
    await s.close()
    const again = await BundleStore.open(await ts.reopen(), { quotaBytes: 1 << 24 })
    const seen = ts.store.sublevel<number>('dtn-seen') as any
    const counter = { reads: 0 }
    const count = (name: 'get' | 'getMany'): void => {
      const f = seen[name].bind(seen)
      seen[name] = async (...args: unknown[]) => { counter.reads++; return f(...args) }
    }
    count('get')
    count('getMany')
    // 2. 200 new ones at once: one group, no read
    const fresh = await Promise.all(Array.from({ length: 200 }, async (_, i) => again.accept([{ type: 'outbound', meta: meta(1000 + i), bytes: new Uint8Array(10) }])))
    expect(fresh.flat().every(r => r === 'accepted')).to.equal(true)
    expect(counter.reads).to.equal(0)
    // 3. the 50 seen before: the filter says "maybe", one read for the group says duplicate
    const old = await Promise.all(Array.from({ length: 50 }, async (_, i) => again.accept([{ type: 'outbound', meta: meta(i), bytes: new Uint8Array(10) }])))
    expect(old.flat().every(r => r === 'duplicate')).to.equal(true)
    expect(counter.reads).to.be.greaterThan(0)
    expect(again.usage.entries).to.equal(200)
  })

  it('opens a store whose records are of the earlier JSON format', async () => {
    const m = meta(1, { destination: 'node-d' })
    const { signer: sg, ...rest } = m
    const json = JSON.stringify({ ...rest, signer: { ...sg, spki: Buffer.from(sg.spki).toString('base64') } })
    const head = Buffer.alloc(4)
    head.writeUInt32BE(Buffer.byteLength(json), 0)
    await ts.store.sublevel<Uint8Array>('dtn-bundles').put(partKey(m.id, 0), Buffer.concat([head, Buffer.from(json), new Uint8Array(10)]))
    const s = await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    expect(s.outboundCount).to.equal(1)
    expect((await s.outboundFor('node-d', false)).map(x => x.id.sequence)).to.deep.equal([1])
    expect((await s.getOutbound(m.id))?.meta).to.deep.equal(m)
    // rewritten in the current format on its next update
    await s.updateOutbound(m.id, 0, { copies: 1 })
    const v = await ts.store.sublevel<Uint8Array>('dtn-bundles').get(partKey(m.id, 0))
    expect(v?.[0]).to.equal(0xb7)
    expect((await s.getOutbound(m.id))?.meta).to.deep.equal({ ...m, copies: 1 })
  })

  it('clears the index sublevels of earlier versions at open', async () => {
    await ts.store.sublevel('dtn-outbound').put('0000000000000001.x', '')
    await ts.store.sublevel('dtn-expiry').put('0000000000000001.x', ['s'])
    await BundleStore.open(ts.store, { quotaBytes: 1 << 20 })
    expect([await count('dtn-outbound'), await count('dtn-expiry'), await count('dtn-by-dest')]).to.deep.equal([0, 0, 0])
  })
})
