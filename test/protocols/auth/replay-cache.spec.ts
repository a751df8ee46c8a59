import { expect } from 'aegir/chai'
import { ReplayCache } from '../../../protocols/auth/replay-cache.ts'

const nonce = (i: number): Uint8Array => new Uint8Array(32).fill(i)

describe('auth replay cache', () => {
  it('names a nonce seen before, within its time to live', () => {
    const cache = new ReplayCache(10, 1_000)
    expect(cache.checkAndAdd(nonce(1), 0)).to.equal(false)
    expect(cache.checkAndAdd(nonce(1), 999)).to.equal(true)
    expect(cache.checkAndAdd(nonce(2), 999)).to.equal(false)
  })

  it('forgets nonces older than the time to live', () => {
    const cache = new ReplayCache(10, 1_000)
    cache.checkAndAdd(nonce(1), 0)
    expect(cache.checkAndAdd(nonce(1), 1_001)).to.equal(false)
  })

  it('stays within its size, dropping the oldest first', () => {
    const cache = new ReplayCache(3, 1_000_000)
    for (let i = 0; i < 10; i++) { cache.checkAndAdd(nonce(i), i) }
    expect(cache.size).to.equal(3)
    expect(cache.checkAndAdd(nonce(9), 10)).to.equal(true)
    expect(cache.checkAndAdd(nonce(0), 10)).to.equal(false)
  })
})
