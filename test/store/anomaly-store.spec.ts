import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MemoryLevel } from 'memory-level'
import { AnomalyStore } from '../../src/store/anomaly-store.ts'
import { openStore, wrapStore } from '../../src/store/mesh-store.ts'
import type { AnomalyRecord } from '../../src/store/anomaly-store.ts'
import type { MeshStore, RootDb } from '../../src/store/mesh-store.ts'

const T0 = Date.parse('2026-03-01T12:00:00Z')

function record (id: string, expiry: number, extra: Partial<AnomalyRecord> = {}): AnomalyRecord {
  return {
    message_id: id,
    origin: id.split(':')[0],
    origin_peer_id: '12D3KooWExample',
    timestamp: expiry - 3_600_000,
    expiry,
    payload: { type: 'sha256', value: id },
    digest: `d-${id}`,
    received_at: T0,
    source: 'gossip',
    ...extra
  }
}

function memoryStore (): MeshStore {
  return wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb)
}

describe('store: AnomalyStore', () => {
  let mesh: MeshStore
  let store: AnomalyStore
  beforeEach(async () => {
    mesh = memoryStore()
    store = await AnomalyStore.open(mesh)
  })
  afterEach(async () => { await mesh.close() })

  it('stores by message_id, answers get() and seen(), and emits anomaly for the agent', async () => {
    const events: AnomalyRecord[] = []
    store.addEventListener('anomaly', (evt) => events.push(evt.detail))
    const r = record('node-a:1', T0 + 1000)
    expect(await store.put(r)).to.equal(true)
    expect(await store.get('node-a:1')).to.deep.equal(r)
    expect(store.seen('node-a:1')).to.deep.equal({ digest: 'd-node-a:1', expiry: T0 + 1000 })
    expect(store.seen('node-a:2')).to.equal(undefined)
    expect(await store.get('node-a:2')).to.equal(undefined)
    expect(events).to.deep.equal([r])
  })

  it('keeps the first record of an id: a second put is refused and emits nothing', async () => {
    let n = 0
    store.addEventListener('anomaly', () => { n++ })
    expect(await store.put(record('node-a:1', T0 + 1000))).to.equal(true)
    expect(await store.put(record('node-a:1', T0 + 9000, { digest: 'other' }))).to.equal(false)
    expect(store.seen('node-a:1')?.digest).to.equal('d-node-a:1')
    expect(n).to.equal(1)
  })

  it('marks an id seen before the write completes, so a concurrent copy is recognised', async () => {
    const pending = store.put(record('node-a:1', T0 + 1000))
    expect(store.seen('node-a:1')).to.not.equal(undefined)
    expect(await store.put(record('node-a:1', T0 + 1000))).to.equal(false)
    expect(await pending).to.equal(true)
  })

  it('announces a record before its write, serves it from memory meanwhile, and writes a turn\'s records in one batch', async () => {
    const batches: number[] = []
    const db = mesh.db as any
    const batch = db.batch.bind(db)
    db.batch = async (ops: unknown[], ...rest: unknown[]) => { batches.push(ops.length); return batch(ops, ...rest) }
    const events: string[] = []
    store.addEventListener('anomaly', (evt) => events.push(evt.detail.message_id))
    const puts = [store.put(record('node-a:1', T0 + 1000)), store.put(record('node-a:2', T0 + 2000))]
    // Announced in the caller's turn, before anything is written.
    expect(events).to.deep.equal(['node-a:1', 'node-a:2'])
    expect(batches).to.deep.equal([])
    expect((await store.get('node-a:2'))?.expiry).to.equal(T0 + 2000)
    expect(await Promise.all(puts)).to.deep.equal([true, true])
    // One batch for both records (record + expiry index each).
    expect(batches).to.deep.equal([4])
    expect((await store.list()).map(r => r.message_id)).to.deep.equal(['node-a:2', 'node-a:1'])
  })

  it('drops the records of a failed batch from the seen index and rejects their puts', async () => {
    const db = mesh.db as any
    db.batch = async () => { throw new Error('disk full') }
    const err = await store.put(record('node-a:1', T0 + 1000)).catch(e => e)
    expect(err).to.have.property('message', 'disk full')
    expect(store.seen('node-a:1')).to.equal(undefined)
    expect(store.size).to.equal(0)
  })

  it('flush() waits for every pending write (what a stopping node does before the store closes)', async () => {
    void store.put(record('node-a:1', T0 + 1000))
    await store.flush()
    expect(await mesh.sublevel<AnomalyRecord>('anomaly-signatures').get('node-a:1')).to.have.property('message_id', 'node-a:1')
  })

  it('sweeps what expired before now (clock passed in), and only that', async () => {
    const gone: string[][] = []
    store.addEventListener('expired', (evt) => gone.push(evt.detail.messageIds))
    await store.put(record('node-a:1', T0 + 1000))
    await store.put(record('node-a:2', T0 + 2000))
    await store.put(record('node-b:1', T0 + 3000))
    expect(await store.sweep(T0 + 1000)).to.equal(0) // expiry == now is still valid
    expect(await store.sweep(T0 + 2001)).to.equal(2)
    expect(gone).to.deep.equal([['node-a:1', 'node-a:2']])
    expect(store.seen('node-a:1')).to.equal(undefined)
    expect(await store.get('node-a:2')).to.equal(undefined)
    expect(await store.get('node-b:1')).to.not.equal(undefined)
    expect(store.size).to.equal(1)
  })

  it('lists latest expiry first, filtered by origin and type, leaving out the expired, up to limit', async () => {
    await store.put(record('node-a:1', T0 + 1000))
    await store.put(record('node-a:2', T0 + 3000, { payload: { type: 'rule', value: 'r-1' } }))
    await store.put(record('node-b:1', T0 + 2000))
    expect((await store.list()).map(r => r.message_id)).to.deep.equal(['node-a:2', 'node-b:1', 'node-a:1'])
    expect((await store.list({ origin: 'node-a' })).map(r => r.message_id)).to.deep.equal(['node-a:2', 'node-a:1'])
    expect((await store.list({ type: 'sha256' })).map(r => r.message_id)).to.deep.equal(['node-b:1', 'node-a:1'])
    expect((await store.list({ now: T0 + 1500 })).map(r => r.message_id)).to.deep.equal(['node-a:2', 'node-b:1'])
    expect((await store.list({ limit: 1 })).map(r => r.message_id)).to.deep.equal(['node-a:2'])
    expect(await store.list({ limit: 0 })).to.deep.equal([])
  })

  it('stays within maxEntries by dropping the oldest entries with their records', async () => {
    const small = await AnomalyStore.open(memoryStore(), { maxEntries: 3 })
    for (let i = 1; i <= 5; i++) { await small.put(record(`node-a:${i}`, T0 + i * 1000)) }
    expect(small.size).to.equal(3)
    expect(small.seen('node-a:1')).to.equal(undefined)
    expect(small.seen('node-a:2')).to.equal(undefined)
    expect(await small.get('node-a:1')).to.equal(undefined)
    expect((await small.list()).map(r => r.message_id)).to.deep.equal(['node-a:5', 'node-a:4', 'node-a:3'])
  })

  it('bounds each origin to maxEntriesPerOrigin: a flooding origin evicts its own oldest entries, never another origin\'s', async () => {
    const small = await AnomalyStore.open(memoryStore(), { maxEntries: 100, maxEntriesPerOrigin: 3 })
    await small.put(record('node-b:1', T0 + 1000))
    for (let i = 1; i <= 10; i++) { await small.put(record(`node-a:${i}`, T0 + i * 1000)) }
    expect(small.size).to.equal(4)
    expect(small.seen('node-b:1')?.digest).to.equal('d-node-b:1')
    expect(small.seen('node-a:7')).to.equal(undefined)
    expect(await small.get('node-a:7')).to.equal(undefined)
    expect((await small.list({ origin: 'node-a' })).map(r => r.message_id)).to.deep.equal(['node-a:10', 'node-a:9', 'node-a:8'])
  })

  it('applies the per-origin bound to the index rebuilt on open', async () => {
    const mesh2 = memoryStore()
    const big = await AnomalyStore.open(mesh2)
    for (let i = 1; i <= 5; i++) { await big.put(record(`node-a:${i}`, T0 + i * 1000)) }
    const reopened = await AnomalyStore.open(mesh2, { maxEntriesPerOrigin: 2 })
    expect(reopened.size).to.equal(2)
    expect(reopened.seen('node-a:5')?.digest).to.equal('d-node-a:5')
    expect(reopened.seen('node-a:3')).to.equal(undefined)
    await mesh2.close()
  })

  it('rebuilds the seen index from LevelDB on open (restart)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dadm-anomaly-store-'))
    try {
      const db1 = await openStore(join(dir, 'db'))
      const s1 = await AnomalyStore.open(db1)
      await s1.put(record('node-a:1', T0 + 1000))
      await s1.put(record('node-b:7', T0 + 5000))
      await db1.close()
      const db2 = await openStore(join(dir, 'db'))
      const s2 = await AnomalyStore.open(db2)
      expect(s2.size).to.equal(2)
      expect(s2.seen('node-b:7')).to.deep.equal({ digest: 'd-node-b:7', expiry: T0 + 5000 })
      expect((await s2.get('node-a:1'))?.payload).to.deep.equal({ type: 'sha256', value: 'node-a:1' })
      await db2.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
