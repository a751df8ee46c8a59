import { expect } from 'aegir/chai'
import { BundleStore, ENTRY_OVERHEAD_BYTES } from '../../src/store/bundle-store.ts'
import { NOW, tempStore } from '../dtn/fixtures.ts'
import type { PeerIdentity } from '../../src/node/peer-verifier.ts'
import type { OutboundMeta } from '../../src/store/bundle-store.ts'
import type { TempStore } from '../dtn/fixtures.ts'

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
    const s = await BundleStore.open(ts.store, { quotaBytes: quota })
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
