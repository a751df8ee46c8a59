import { expect } from 'aegir/chai'
import { BundleIndex } from '../../../src/dtn/store/bundle-index.ts'
import { partKey } from '../../../src/dtn/store/bundle-keys.ts'
import { SeenIds } from '../../../src/dtn/store/bundle-seen.ts'
import { Tx } from '../../../src/dtn/store/group-commit.ts'
import { SeenFilter } from '../../../src/dtn/store/seen-filter.ts'
import { NOW, tempStore } from '../fixtures.ts'
import type { Sublevel } from '../../../src/store/mesh-store.ts'
import type { TempStore } from '../fixtures.ts'

const pk = (i: number): string => partKey({ source: 'node-a', createdAt: NOW, sequence: i }, 0)

describe('store / seen filter (Bloom)', function () {
  it('never says "no" for a key it was given', () => {
    const f = new SeenFilter(20)
    for (let i = 0; i < 100_000; i++) { f.add(pk(i)) }
    let missed = 0
    for (let i = 0; i < 100_000; i++) { if (!f.mightHave(pk(i))) { missed++ } }
    expect(missed).to.equal(0)
  })

  it('says "maybe" for few keys it was not given, at its designed load', () => {
    const f = new SeenFilter(20)
    for (let i = 0; i < 50_000; i++) { f.add(pk(i)) }
    let maybes = 0
    for (let i = 50_000; i < 150_000; i++) { if (f.mightHave(pk(i))) { maybes++ } }
    // 50k keys in 2^20 bits with 6 hashes: about 0.03% expected
    expect(maybes).to.be.lessThan(200)
  })

  it('refuses a size outside [2^10, 2^30] bits', () => {
    expect(() => new SeenFilter(9)).to.throw(RangeError)
    expect(() => new SeenFilter(31)).to.throw(RangeError)
    expect(() => new SeenFilter(20.5)).to.throw(RangeError)
  })
})

describe('store / seen ids: filter, reads and rebuild', function () {
  let ts: TempStore
  let seen: Sublevel<number>
  beforeEach(async () => {
    ts = await tempStore()
    seen = ts.store.sublevel<number>('dtn-seen')
  })
  afterEach(async () => { await ts.destroy() })

  it('loads every id on disk at open; a part never seen is settled without a read', async () => {
    for (let i = 0; i < 100; i++) { await seen.put(pk(i), NOW) }
    const ids = new SeenIds(seen, new BundleIndex(), 20)
    await ids.load()
    const tx = new Tx({ bytes: 0, entries: 0 })
    for (let i = 0; i < 100; i++) { expect(await ids.has(pk(i))).to.equal(true) }
    // not on disk, and the filter knows it: `now` answers false (no read needed)
    let unsettled = 0
    for (let i = 100; i < 1100; i++) { if (ids.now(tx, pk(i)) === undefined) { unsettled++ } }
    expect(unsettled).to.be.lessThan(5)
    // the group's own writes and deletes come first
    tx.markWritten(pk(500))
    expect(ids.now(tx, pk(500))).to.equal(true)
    tx.markDeleted(`s:${pk(5)}`)
    expect(ids.now(tx, pk(5))).to.equal(false)
  })

  it('a tiny filter answers "maybe" often, and the reads keep every answer right', async () => {
    for (let i = 0; i < 300; i += 2) { await seen.put(pk(i), NOW) }
    const ids = new SeenIds(seen, new BundleIndex(), 10)
    await ids.load()
    const tx = new Tx({ bytes: 0, entries: 0 })
    const jobs = [{ keys: Array.from({ length: 300 }, (_, i) => pk(i)) }]
    await ids.prefetch(jobs, tx)
    for (let i = 0; i < 300; i++) {
      expect(ids.now(tx, pk(i)) ?? await ids.read(pk(i))).to.equal(i % 2 === 0)
      expect(await ids.has(pk(i))).to.equal(i % 2 === 0)
    }
  })

  it('rebuilds from a scan without losing ids committed while it runs', async () => {
    const ids = new SeenIds(seen, new BundleIndex(), 20, 100)
    await ids.load()
    const commit = async (i: number): Promise<void> => {
      await seen.put(pk(i), NOW)
      ids.decided(pk(i))
      ids.committed(pk(i))
    }
    // 1. 99 ids committed: below the slack, no rebuild; the 100th starts one (its scan reads a
    // snapshot taken at that moment)
    for (let i = 0; i < 99; i++) { await commit(i) }
    expect(ids.rebuilding).to.equal(undefined)
    await commit(99)
    const rebuild = ids.rebuilding
    expect(rebuild).to.not.equal(undefined)
    // 2. while it scans (before it has read anything: no await yet), 100 more ids are committed;
    // they are written after its snapshot, so only `committed` can bring them into the new filter
    for (let i = 100; i < 200; i++) {
      ids.decided(pk(i))
      ids.committed(pk(i))
    }
    await Promise.all(Array.from({ length: 100 }, async (_, j) => seen.put(pk(100 + j), NOW)))
    // and some expire
    for (let i = 0; i < 50; i++) { await seen.del(pk(i)) }
    await rebuild
    expect(ids.rebuilding).to.equal(undefined)
    // 3. every id on disk is known to the rebuilt filter; the deleted ones read as not seen
    for (let i = 50; i < 200; i++) { expect(ids.mightHave(pk(i))).to.equal(true) }
    for (let i = 0; i < 50; i++) { expect(await ids.has(pk(i))).to.equal(false) }
  })

  it('a rebuilt filter forgets expired ids', async () => {
    const ids = new SeenIds(seen, new BundleIndex(), 20, 10)
    await ids.load()
    const commit = async (i: number): Promise<void> => {
      await seen.put(pk(i), NOW)
      ids.decided(pk(i))
      ids.committed(pk(i))
      await ids.rebuilding
    }
    for (let i = 0; i < 10; i++) { await commit(i) }
    // those ten expire and leave the disk; later commits trigger rebuilds over what is left
    for (let i = 0; i < 10; i++) { await seen.del(pk(i)) }
    for (let i = 10; i < 60; i++) { await commit(i) }
    let remembered = 0
    for (let i = 0; i < 10; i++) { if (ids.mightHave(pk(i))) { remembered++ } }
    expect(remembered).to.equal(0)
    for (let i = 10; i < 60; i++) { expect(ids.mightHave(pk(i))).to.equal(true) }
  })
})
