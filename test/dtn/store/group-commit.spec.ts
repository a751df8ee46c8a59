import { expect } from 'aegir/chai'
import { GroupCommit } from '../../../src/dtn/store/group-commit.ts'
import { tempStore } from '../fixtures.ts'
import type { Usage } from '../../../src/dtn/store/bundle-records.ts'
import type { Sublevel } from '../../../src/store/mesh-store.ts'
import type { TempStore } from '../fixtures.ts'

describe('store / group commit (the bundle store\'s write queue)', function () {
  let ts: TempStore
  let sub: Sublevel<any>
  let usage: Usage
  let queue: GroupCommit
  beforeEach(async () => {
    ts = await tempStore()
    sub = ts.store.sublevel('dtn-state')
    usage = { bytes: 0, entries: 0 }
    queue = new GroupCommit({ db: ts.store.db, usage: () => usage, setUsage: (u) => { usage = u } })
  })
  afterEach(async () => {
    await queue.idle()
    await ts.destroy()
  })

  it('a refused change leaves nothing in its group: writes, usage, index steps and the keys it marked', async () => {
    const steps: string[] = []
    // queued in one tick: decided as one group, in order
    const refused = queue.run((tx) => {
      tx.put(sub, 'a', 1)
      tx.charge(100, 1)
      tx.markWritten('a')
      tx.markDeleted('gone')
      tx.onCommit(() => { steps.push('a') })
      throw new Error('over quota')
    })
    const next = queue.run((tx) => {
      const seen = { wroteA: tx.wrote('a'), goneGone: tx.gone('gone'), usage: { ...tx.usage } }
      tx.put(sub, 'b', 2)
      tx.charge(10, 1)
      tx.onCommit(() => { steps.push('b') })
      return seen
    })
    expect((await refused.catch(e => e)).message).to.equal('over quota')
    expect(await next).to.deep.equal({ wroteA: false, goneGone: false, usage: { bytes: 0, entries: 0 } })
    expect(steps).to.deep.equal(['b'])
    expect(usage).to.deep.equal({ bytes: 10, entries: 1 })
    expect(await sub.get('a')).to.equal(undefined)
    expect(await sub.get('b')).to.equal(2)
  })

  it('a write LevelDB refuses fails its own change only; the rest of the group is written', async () => {
    const bad = queue.run((tx) => { tx.put(sub, 'x', undefined) })
    const good = queue.run((tx) => {
      tx.put(sub, 'y', 'fine')
      return 'ok'
    })
    expect(await bad.catch(e => e)).to.include({ code: 'LEVEL_INVALID_VALUE' })
    expect(await good).to.equal('ok')
    expect(await sub.get('y')).to.equal('fine')
    expect(await sub.get('x')).to.equal(undefined)
  })

  it('decides the next group while one is on its way to disk, and writes it as soon as that one is', async () => {
    const db = ts.store.db as any
    const batch = db.batch.bind(db)
    const events: string[] = []
    db.batch = (...args: unknown[]) => {
      const b = batch(...args)
      const write = b.write.bind(b)
      b.write = async (...w: unknown[]) => {
        events.push(`write ${b.length as number}`)
        await new Promise(resolve => setTimeout(resolve, 20))
        await write(...w)
      }
      return b
    }
    const first = queue.run((tx) => { tx.put(sub, 'k0', 0); tx.onCommit(() => { events.push('applied 1') }) })
    // queued while the first batch is being written: one group of five, decided on top of it
    await new Promise(resolve => setTimeout(resolve, 5))
    const rest = Array.from({ length: 5 }, async (_, i) => queue.run((tx) => { tx.put(sub, `k${i + 1}`, i + 1); tx.onCommit(() => { events.push(`applied ${i + 2}`) }) }))
    await Promise.all([first, ...rest])
    // the second batch starts before the first group's bookkeeping runs
    expect(events).to.deep.equal(['write 1', 'write 5', 'applied 1', 'applied 2', 'applied 3', 'applied 4', 'applied 5', 'applied 6'])
    expect(await sub.values().all()).to.have.lengthOf(6)
  })
})
