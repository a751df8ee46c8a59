import { expect } from 'aegir/chai'
import sinon from 'sinon'
import { Rng } from '../../simulations/core/rng.ts'
import { DelayLine } from '../../simulations/link/delay-line.ts'
import { LinkModel } from '../../simulations/link/link-model.ts'
import type { LinkParams } from '../../simulations/link/link-model.ts'

describe('simulation link model', () => {
  let clock: sinon.SinonFakeTimers
  beforeEach(() => { clock = sinon.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'Date'] }) })
  afterEach(() => { clock.restore() })

  function line (p: Partial<LinkParams>): { out: Array<[string, number]>, l: DelayLine<string> } {
    const model = new LinkModel({ latencyMs: 0, jitterMs: 0, loss: 0, bandwidthKbps: 0, ...p })
    const out: Array<[string, number]> = []
    const l = new DelayLine<string>(() => model.params(0, 1), new Rng('x'), (s) => { out.push([s, Date.now()]) }, () => Date.now())
    return { out, l }
  }

  it('delays every chunk by the latency', async () => {
    const { out, l } = line({ latencyMs: 50 })
    l.push('a', 10)
    await clock.tickAsync(49)
    expect(out).to.deep.equal([])
    await clock.tickAsync(1)
    expect(out).to.deep.equal([['a', 50]])
  })

  it('keeps order under jitter, like a stream', async () => {
    const { out, l } = line({ latencyMs: 50, jitterMs: 40 })
    for (let i = 0; i < 50; i++) { l.push(String(i), 10); await clock.tickAsync(1) }
    await clock.tickAsync(200)
    expect(out.map(o => Number(o[0]))).to.deep.equal(Array.from({ length: 50 }, (_, i) => i))
  })

  it('serializes by bandwidth: 1,000 bytes at 80 kbit/s take 100 ms', async () => {
    const { out, l } = line({ bandwidthKbps: 80 })
    l.push('a', 1000)
    l.push('b', 1000)
    await clock.tickAsync(250)
    expect(out).to.deep.equal([['a', 100], ['b', 200]])
  })

  it('charges a retransmission timeout for a lost chunk', async () => {
    const { out, l } = line({ latencyMs: 10, loss: 0.999999 })
    l.push('a', 10)
    await clock.tickAsync(199)
    expect(out).to.deep.equal([])
    await clock.tickAsync(10_000)
    expect(out).to.have.length(1)
  })

  it('hands chunks that come due together over as one delivery when it can merge, still in order', async () => {
    const model = new LinkModel({ latencyMs: 50, jitterMs: 0, loss: 0, bandwidthKbps: 0 })
    const out: Array<[string, number]> = []
    const l = new DelayLine<string>(() => model.params(0, 1), new Rng('x'), (s) => { out.push([s, Date.now()]) }, () => Date.now(), (items) => items.join('+'))
    l.push('a', 10)
    l.push('b', 10)
    await clock.tickAsync(5)
    l.push('c', 10)
    await clock.tickAsync(100)
    // a and b were due at 50 ms, c at 55 ms: two deliveries, no chunk early, none out of order.
    expect(out).to.deep.equal([['a+b', 50], ['c', 55]])
  })

  it('cuts links across a partition and heals them', () => {
    const model = new LinkModel()
    model.partition([[0, 1], [2, 3]])
    expect(model.isCut(0, 2)).to.equal(true)
    expect(model.isCut(0, 1)).to.equal(false)
    model.heal()
    expect(model.isCut(0, 2)).to.equal(false)
  })
})
