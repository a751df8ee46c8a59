import { expect } from 'aegir/chai'
import { admitFragment, planFragments, reassemble } from '../../src/dtn/fragment.ts'
import { sha256 } from '../../src/dtn/mesh-bundle.ts'
import { DEFAULT_RETRY_POLICY, nextAttemptAt, retryDelay } from '../../src/dtn/retry.ts'
import { route, spray } from '../../src/dtn/routing.ts'

const base = { now: 1000, expiresAt: 10_000, hopCount: 0, hopLimit: 32, copies: 8, holders: [], self: 'me' }

describe('dtn / routing, retry and fragment rules (pure)', () => {
  it('goes direct when the destination is connected', () => {
    expect(route({ ...base, destination: 'c', connected: ['b', 'c'] })).to.deep.equal({ action: 'direct', peer: 'c' })
  })

  it('sprays binary halves to relays, flagged relays first, while more than one copy is held', () => {
    expect(route({ ...base, destination: 'z', connected: ['b', 'c', 'r', 'd'], relays: ['r'] }))
      .to.deep.equal({ action: 'spray', handoffs: [{ peer: 'r', copies: 4 }, { peer: 'b', copies: 2 }, { peer: 'c', copies: 1 }], keep: 1 })
    expect(spray(1, ['b'], [])).to.deep.equal({ action: 'wait' })
    expect(spray(3, ['b', 'c'], [])).to.deep.equal({ action: 'spray', handoffs: [{ peer: 'b', copies: 1 }, { peer: 'c', copies: 1 }], keep: 1 })
    expect(spray(8, ['b'], [])).to.deep.equal({ action: 'spray', handoffs: [{ peer: 'b', copies: 4 }], keep: 4 })
  })

  it('waits with one copy, skips holders, and never routes to itself', () => {
    expect(route({ ...base, copies: 1, destination: 'z', connected: ['b'] })).to.deep.equal({ action: 'wait' })
    expect(route({ ...base, destination: 'z', connected: ['b', 'me'], holders: ['b'] })).to.deep.equal({ action: 'wait' })
  })

  it('floods broadcast to every connected peer that lacks it', () => {
    expect(route({ ...base, destination: 'broadcast', connected: ['b', 'c', 'd'], holders: ['c'] })).to.deep.equal({ action: 'flood', peers: ['b', 'd'] })
  })

  it('drops what expired or has no hop left', () => {
    expect(route({ ...base, now: 10_000, destination: 'c', connected: ['c'] })).to.deep.equal({ action: 'drop', reason: 'expired' })
    expect(route({ ...base, hopCount: 32, destination: 'c', connected: ['c'] })).to.deep.equal({ action: 'drop', reason: 'hop-limit' })
  })

  it('backs off exponentially with equal jitter, capped, and never past expiry', () => {
    expect(retryDelay(0, () => 0)).to.equal(500)
    expect(retryDelay(0, () => 0.999999)).to.be.closeTo(1000, 1)
    expect(retryDelay(3, () => 0.5)).to.equal(6000)
    expect(retryDelay(50, () => 0.5)).to.equal(0.75 * DEFAULT_RETRY_POLICY.maxMs)
    expect(retryDelay(2, () => Number.NaN)).to.equal(3000)
    expect(nextAttemptAt(1000, 20, 5000, () => 0.5)).to.equal(5000)
  })

  it('plans fragments, admits disjoint ones, reassembles and checks the digest', () => {
    expect(planFragments(10, 4)).to.deep.equal([{ offset: 0, length: 4 }, { offset: 4, length: 4 }, { offset: 8, length: 2 }])
    const adu = Buffer.from('0123456789')
    const d = sha256(adu)
    const f = (offset: number, length: number): any => ({ offset, length, totalLength: 10, aduDigest: d })
    expect(admitFragment([f(0, 4)], f(8, 2))).to.deep.equal({ complete: false, received: 6 })
    expect(admitFragment([f(0, 4), f(8, 2)], f(4, 4))).to.deep.equal({ complete: true, received: 10 })
    expect(() => admitFragment([f(0, 4)], f(3, 2))).to.throw().with.property('code', 'FRAGMENT_OVERLAP')
    expect(() => admitFragment([], f(9, 2))).to.throw().with.property('code', 'FRAGMENT_OUT_OF_RANGE')
    expect(Buffer.from(reassemble([{ offset: 4, payload: adu.subarray(4) }, { offset: 0, payload: adu.subarray(0, 4) }], 10, d)).toString()).to.equal('0123456789')
    expect(() => reassemble([{ offset: 0, payload: Buffer.from('x123456789') }], 10, d)).to.throw().with.property('code', 'DIGEST_MISMATCH')
  })
})
