import { expect } from 'aegir/chai'
import { BlockList } from '../../src/node/index.ts'
import type { BackoffPolicy } from '../../src/node/index.ts'

const policy: BackoffPolicy = { initialMs: 1_000, factor: 2, maxMs: 5_000, forgetAfterMs: 60_000, maxEntries: 3 }

describe('node block list (back-off, fake clock)', () => {
  let t: number
  let list: BlockList
  beforeEach(() => {
    t = 0
    list = new BlockList(policy, () => t)
  })

  it('blocks a failing peer for the initial back-off, then lets it go', () => {
    list.strike('p', 'TIMEOUT')
    expect(list.isBlocked('p')).to.equal(true)
    t = 999
    expect(list.isBlocked('p')).to.equal(true)
    t = 1_000
    expect(list.isBlocked('p')).to.equal(false)
  })

  it('doubles the block with each failure, up to the maximum', () => {
    const durations = []
    for (let i = 0; i < 5; i++) {
      const e = list.strike('p', 'BAD_TRANSCRIPT_SIGNATURE')
      durations.push(e.until - e.since)
      t += 10
    }
    expect(durations).to.deep.equal([1_000, 2_000, 4_000, 5_000, 5_000])
  })

  it('starts over after a quiet period, and forgets a peer that authenticates', () => {
    list.strike('p', 'TIMEOUT')
    list.strike('p', 'TIMEOUT')
    t = 61_000 + 2_000
    expect(list.strike('p', 'TIMEOUT').strikes).to.equal(1)
    list.forgive('p')
    expect(list.isBlocked('p')).to.equal(false)
    expect(list.get('p')).to.equal(undefined)
  })

  it('blocks a revoked peer forever: strikes and forgiveness do not lift it', () => {
    list.blockForever('r', 'REVOKED')
    t = 10 ** 12
    list.strike('r', 'TIMEOUT')
    list.forgive('r')
    expect(list.isBlocked('r')).to.equal(true)
    expect(list.get('r')?.reason).to.equal('REVOKED')
    list.unblock('r')
    expect(list.isBlocked('r')).to.equal(false)
  })

  it('keeps at most maxEntries, dropping the blocks that end soonest', () => {
    list.blockForever('forever', 'REVOKED')
    for (const p of ['a', 'b', 'c', 'd']) { list.strike(p, 'TIMEOUT'); t += 100 }
    expect(list.list()).to.have.lengthOf(3)
    expect(list.isBlocked('forever')).to.equal(true)
    expect(list.get('a')).to.equal(undefined)
  })
})
