import { expect } from 'aegir/chai'
import { bracketOf, nextRefinement } from '../../simulations/coordinator/sweep-refine.ts'
import type { SweepStep } from '../../simulations/coordinator/load-sweep.ts'

const step = (adapter: string, rate: number, sustained: boolean): SweepStep => ({ adapter, rate, sustained, deliveriesPerSecond: rate * 99, p99: sustained ? 500 : 1500, deliveryRatio: 1, cpuS: 1 })

describe('load sweep refinement (sweep-refine.ts)', () => {
  it('a bracket is the highest sustained rate and the lowest failed rate above it', () => {
    const steps = [step('mesh', 5, true), step('mesh', 8, true), step('mesh', 12.8, false), step('mesh', 20.48, false), step('plain', 5, true)]
    expect(bracketOf(steps, 'mesh')).to.deep.equal({ sustained: 8, failed: 12.8 })
    // Never failed: no bracket to narrow.
    expect(bracketOf(steps, 'plain')).to.deep.equal({ sustained: 5, failed: null })
  })

  it('a noisy run that failed below a sustained one does not close the bracket', () => {
    const steps = [step('mesh', 8, false), step('mesh', 10, true), step('mesh', 12.8, false)]
    expect(bracketOf(steps, 'mesh')).to.deep.equal({ sustained: 10, failed: 12.8 })
  })

  it('narrows the widest bracket at its geometric midpoint, with every adapter whose bracket holds that rate', () => {
    const steps = [step('mesh', 8, true), step('mesh', 12.8, false), step('plain', 5, true), step('plain', 8, false)]
    // plain 5..8 (x1.6) and mesh 8..12.8 (x1.6): the first widest wins, mesh; 10.12 is outside plain's bracket.
    expect(nextRefinement(steps, ['mesh', 'plain'])).to.deep.equal({ rate: 10.12, adapters: ['mesh'] })
    const both = [step('mesh', 8, true), step('mesh', 12.8, false), step('plain', 8, true), step('plain', 20.48, false)]
    expect(nextRefinement(both, ['mesh', 'plain'])).to.deep.equal({ rate: 12.8, adapters: ['plain'] })
    const shared = [step('mesh', 8, true), step('mesh', 12.8, false), step('plain', 8, true), step('plain', 12.8, false)]
    expect(nextRefinement(shared, ['mesh', 'plain'])).to.deep.equal({ rate: 10.12, adapters: ['mesh', 'plain'] })
  })

  it('stops when every bracket is narrower than 5 %, or none is closed', () => {
    expect(nextRefinement([step('mesh', 10, true), step('mesh', 10.4, false)], ['mesh', 'plain'])).to.equal(null)
    expect(nextRefinement([step('mesh', 10, false)], ['mesh'])).to.equal(null)
    expect(nextRefinement([step('mesh', 10, true)], ['mesh'])).to.equal(null)
  })
})
