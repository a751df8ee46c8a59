import { expect } from 'aegir/chai'
import { Rng } from '../../simulations/core/rng.ts'
import { adjacency, buildTopology } from '../../simulations/core/topology.ts'
import { loadScenario, resolveScenario, SCENARIO_NAMES } from '../../simulations/scenario/load.ts'
import { planRun } from '../../simulations/scenario/plan.ts'

describe('simulation plans', () => {
  it('the same scenario, size and seed give the same plan; another seed another plan', async () => {
    for (const name of SCENARIO_NAMES) {
      const s = resolveScenario(await loadScenario(name), { nodes: 40 })
      const a = JSON.stringify(planRun(s, '7'))
      expect(JSON.stringify(planRun(s, '7')), name).to.equal(a)
      expect(JSON.stringify(planRun(s, '8')), name).to.not.equal(a)
    }
  })

  it('the topology is connected, near the target degree, and has no duplicate links', () => {
    const n = 500
    const edges = buildTopology(n, { kind: 'random-regular', degree: 8 }, new Rng('t'))
    const keys = new Set(edges.map(e => `${e.a}-${e.b}`))
    expect(keys.size).to.equal(edges.length)
    const adj = adjacency(n, edges)
    expect(Math.min(...adj.map(x => x.length))).to.be.at.least(2)
    expect(Math.max(...adj.map(x => x.length))).to.be.at.most(8)
    expect(edges.length / n).to.be.closeTo(4, 0.3)
    // Breadth-first search reaches every node.
    const seen = new Set([0])
    const queue = [0]
    while (queue.length > 0) { for (const j of adj[queue.shift()!]) { if (!seen.has(j)) { seen.add(j); queue.push(j) } } }
    expect(seen.size).to.equal(n)
  })

  it('publishers are never down, revoked or hostile when they publish', async () => {
    const churn = planRun(resolveScenario(await loadScenario('churn'), { nodes: 30 }), '1')
    const down = new Set<number>()
    for (const a of churn.actions) {
      if (a.kind === 'kill') { a.nodes.forEach(x => down.add(x)) }
      if (a.kind === 'revive') { a.nodes.forEach(x => down.delete(x)) }
      if (a.kind === 'publish') { expect(down.has(a.node)).to.equal(false) }
    }
    const flood = planRun(resolveScenario(await loadScenario('compromised-flood'), { nodes: 30 }), '1')
    const flooder = flood.actions.find(a => a.kind === 'flood') as { node: number }
    expect(flood.actions.some(a => a.kind === 'publish' && a.node === flooder.node)).to.equal(false)
  })

  it('a rate in deliveries per second scales with the node count', async () => {
    const s = await loadScenario('steady-gossip')
    expect(resolveScenario(s, { nodes: 501 }).publish.ratePerSec).to.equal(0.3)
    expect(resolveScenario(s, { nodes: 21 }).publish.ratePerSec).to.equal(7.5)
    expect(resolveScenario(s, { nodes: 21, rate: 2 }).publish.ratePerSec).to.equal(2)
  })
})
