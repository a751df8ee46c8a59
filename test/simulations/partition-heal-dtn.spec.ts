import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { runSimulation } from '../../simulations/coordinator/run.ts'
import { readEvents } from './recompute.ts'
import type { RunSummary } from '../../simulations/coordinator/summary-file.ts'
import type { Scenario } from '../../simulations/scenario/types.ts'

/**
 * Partition and heal: with the DTN layer on every node, every anomaly signature
 * published while the mesh is cut in two reaches every node, both sides, after the heal. A small
 * run (16 real nodes, memory links at 50 ms, one process) with a 5 s cut: longer than gossipsub's
 * gossip window (3 heartbeats), so gossip alone cannot bring the older cut-time messages across,
 * which the control run without DTN shows. Carry policy 'always', as the bundled scenario has it:
 * with 'missing' a node carries only while one of its own peers is away, and a node whose links
 * all stay on its side of the cut (node 10 of this seed and size) never carries what it publishes.
 */
describe('simulation partition-heal with DTN bundles', function () {
  this.timeout(180_000)
  let dir: string

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-sim-heal-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  /**
   * The bundled scenario's shape, shortened: cut at 1 s, heal at 6 s, traffic to 8 s, then 10 s of
   * drain, room for the heal's redials and a carrier's next recheck on a loaded host.
   */
  async function run (name: string, dtn: Scenario['dtn']): Promise<{ s: RunSummary, events: Array<Record<string, any>> }> {
    const scenario: Scenario = {
      name,
      topology: { kind: 'random-regular', degree: 6 },
      link: { latencyMs: 50, jitterMs: 0, loss: 0, bandwidthKbps: 0 },
      warmupMs: 2000,
      durationMs: 8000,
      drainMs: 10_000,
      deliveryWindowMs: 2000,
      publish: { ratePerSec: 6, publishers: 'all' },
      ...(dtn != null ? { dtn } : {}),
      timeline: [{ at: 1000, action: 'partition', groups: 'halves' }, { at: 6000, action: 'heal' }]
    }
    const file = join(dir, `${name}.json`)
    await writeFile(file, JSON.stringify(scenario))
    const { runDir } = await runSimulation({ scenario: file, nodes: 16, shards: 1, seed: 'heal', resultsDir: dir })
    const s = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8')) as RunSummary
    return { s, events: (await readEvents(runDir)).filter(e => e.a === 'mesh') }
  }

  it('every message published during the cut reaches every node after the heal, some of them in bundles', async () => {
    const { s, events } = await run('heal-dtn', { carry: 'always' })
    const h = s.mesh.heal!
    expect(h.cutMessages).to.be.greaterThan(20)
    // 1. the goal: 100% of cut-time messages on every node, both sides
    expect(h.allNodesRatio).to.equal(1)
    expect(h.deliveryRatio).to.equal(1)
    expect(h.expectedDeliveries).to.equal(h.cutMessages * 15)
    // 2. an independent reading of the log: every node but the publisher has each one by the end
    const missing = missingAfterHeal(events)
    expect(missing.messages).to.equal(h.cutMessages)
    expect(missing.pairs).to.deep.equal([])
    // 3. bundles carried some across the cut (gossip cannot reach back further than its window)
    expect(h.via.crossBundle).to.be.greaterThan(0)
    expect(h.via.bundle).to.equal(events.filter(e => e.e === 'deliver' && e.via === 'bundle' && missing.cutIds.has(e.m)).length)
    expect(h.dtn?.carried).to.be.greaterThan(0)
    expect(h.dtn?.refused).to.equal(0)
    // 4. the time after the heal is reported, and is what the log says of the last arrival
    expect(h.afterHealMs.count).to.equal(h.cutMessages)
    expect(h.afterHealMs.max).to.be.a('number')
    expect(h.afterHealMs.max).to.be.closeTo(missing.lastAfterHeal, 0.001)
    expect(h.afterHealMs.p50!).to.be.at.most(h.afterHealMs.p99!)
    // 5. and the goal line says so; nothing crossed while the cut held
    expect(s.goals.find(g => g.name === 'cut-time messages on every node after the heal')?.pass).to.equal(true)
    expect(s.mesh.partition?.crossDeliveriesWhileCut).to.equal(0)
  })

  it('control: without DTN, gossip alone leaves cut-time messages missing on the other side', async () => {
    const { s } = await run('heal-gossip-only', undefined)
    const h = s.mesh.heal!
    expect(h.cutMessages).to.be.greaterThan(20)
    expect(h.allNodesRatio).to.be.below(1)
    expect(h.via.bundle).to.equal(0)
    expect(h.dtn).to.equal(undefined)
    expect(s.goals.find(g => g.name === 'cut-time messages on every node after the heal')?.pass).to.equal(false)
  })
})

/**
 * Read apart from simulations/metrics: messages published between the partition and the heal,
 * the (message, node) pairs with no delivery by the end of the run (no churn here: every node
 * but the publisher counts), and the latest first arrival after the heal.
 */
function missingAfterHeal (ev: Array<Record<string, any>>): { messages: number, pairs: string[], lastAfterHeal: number, cutIds: Set<string> } {
  const at = (kind: string): Record<string, any> => {
    const e = ev.find(x => x.e === kind)
    if (e == null) { throw new Error(`no ${kind} event in the log`) }
    return e
  }
  const nodes: number = at('run').nodes
  const cut: number = at('partition').t
  const heal: number = at('heal').t
  const end: number = at('window_end').t
  const firstAt = new Map<string, number>()
  for (const e of ev) {
    if (e.e === 'deliver' && e.t <= end) { firstAt.set(`${e.m}/${e.n}`, Math.min(e.t, firstAt.get(`${e.m}/${e.n}`) ?? Infinity)) }
  }
  const pubs = ev.filter(e => e.e === 'publish' && e.t >= cut && e.t < heal)
  const pairs: string[] = []
  let last = 0
  for (const p of pubs) {
    for (let x = 0; x < nodes; x++) {
      if (x === p.n) { continue }
      const at = firstAt.get(`${p.m}/${x}`)
      if (at == null) { pairs.push(`${p.m}/${x}`) } else { last = Math.max(last, at - heal) }
    }
  }
  return { messages: pubs.length, pairs, lastAfterHeal: last, cutIds: new Set(pubs.map(p => p.m)) }
}
