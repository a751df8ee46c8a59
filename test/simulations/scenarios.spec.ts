import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { runSimulation } from '../../simulations/coordinator/run.ts'
import { readEvents, recompute } from './recompute.ts'
import type { RunSummary } from '../../simulations/coordinator/summary-file.ts'

/**
 * A small scripted run of every scenario (real nodes, real CA, real LevelDB, memory links with
 * the link model), each checked against its own raw event log: the delivery ratio and the p99
 * that summary.json reports must be what an independent reading of events.ndjson gives.
 */
describe('simulation scenarios, small scripted runs', function () {
  this.timeout(240_000)
  let results: string

  before(async () => { results = await mkdtemp(join(tmpdir(), 'dadm-sim-test-')) })
  after(async () => { await rm(results, { recursive: true, force: true }) })

  /** Runs a scenario small and checks summary.json against events.ndjson. */
  async function scripted (scenario: string, opts: { nodes?: number, durationMs?: number, shards?: number, rate?: number } = {}): Promise<{ s: RunSummary, events: Array<Record<string, any>> }> {
    const { runDir, summary } = await runSimulation({ scenario, nodes: opts.nodes ?? 12, shards: opts.shards ?? 1, seed: 'test', resultsDir: results, ...(opts.durationMs != null ? { durationMs: opts.durationMs } : {}), ...(opts.rate != null ? { rate: opts.rate } : {}) })
    const onDisk = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8')) as RunSummary
    expect(onDisk.mesh.deliveryRatio).to.equal(summary.mesh.deliveryRatio)
    const events = await readEvents(runDir)
    for (const [adapter, a] of [['mesh', onDisk.mesh], ['plain', onDisk.baseline]] as const) {
      if (a == null) { continue }
      const r = recompute(events, adapter)
      // 1. Delivery ratio: exactly the same counts.
      expect(a.deliveries, `${adapter} deliveries`).to.equal(r.deliveries)
      expect(a.expectedDeliveries, `${adapter} expected`).to.equal(r.expected)
      expect(a.deliveryRatio).to.equal(r.ratio)
      // 2. p99: summary.json rounds to 3 decimals.
      expect(a.latencyMs.p99).to.be.closeTo(r.p99, 0.001)
      expect(a.messages).to.equal(r.messages)
    }
    return { s: onDisk, events }
  }

  it('steady-gossip: full delivery, and the baseline on the same plan gives every latency ratio', async () => {
    const { s } = await scripted('steady-gossip', { durationMs: 4000, rate: 5 })
    expect(s.mesh.deliveryRatio).to.equal(1)
    expect(s.baseline?.deliveryRatio).to.equal(1)
    expect(s.mesh.messages).to.equal(s.baseline?.messages)
    expect(s.latencyRatios?.p99).to.be.closeTo(s.mesh.latencyMs.p99! / s.baseline!.latencyMs.p99!, 0.001)
    // 50 ms links: no delivery can beat one hop.
    expect(s.mesh.latencyMs.p50).to.be.greaterThan(45)
    expect(s.goals.map(g => g.name)).to.include('p99 latency vs plain gossipsub')
  })

  it('steady-gossip across two shard processes (bridged memory links)', async () => {
    const { s } = await scripted('steady-gossip', { durationMs: 3000, rate: 5, shards: 2 })
    expect(s.shards).to.equal(2)
    expect(s.mesh.shards).to.have.length(2)
    expect(s.mesh.deliveryRatio).to.equal(1)
    for (const sh of s.mesh.shards) { expect(sh.peakRssMB).to.be.greaterThan(0) }
  })

  it('churn: nodes go down and come back, and the ratio counts only nodes up for the window', async () => {
    const { s, events } = await scripted('churn', { durationMs: 8000 })
    expect(events.filter(e => e.e === 'node_down').length).to.be.greaterThan(0)
    expect(events.filter(e => e.e === 'node_up').length).to.be.greaterThan(12)
    expect(s.mesh.deliveryRatio).to.be.at.least(0.95)
  })

  it('revocation: the revoked node is isolated on every other node, and the curve is the isolated events', async () => {
    const { s, events } = await scripted('revocation', { durationMs: 6000 })
    const iso = s.mesh.isolation!
    expect(iso.revoked).to.have.length(1)
    expect(iso.allIsolatedMs).to.be.a('number')
    expect(iso.curve).to.have.length(iso.expectedPairs)
    expect(events.filter(e => e.a === 'mesh' && e.e === 'isolated').length).to.equal(iso.expectedPairs)
    expect(iso.allIsolatedMs!).to.be.below(2000)
  })

  it('compromised-flood: every invalid message is rejected and honest traffic still arrives', async () => {
    const { s } = await scripted('compromised-flood', { durationMs: 8000 })
    const flood = s.mesh.flood!
    expect(flood.flooder).to.have.length(1)
    expect((flood.sent.garbage ?? 0) + (flood.sent.forged ?? 0)).to.be.greaterThan(0)
    expect(s.mesh.invalidRejected).to.be.greaterThan(0)
    expect(s.mesh.deliveryRatio).to.be.at.least(0.99)
  })

  it('cold-boot: nodes that know only the bootstrap servers all end up in gossip meshes', async () => {
    const { s } = await scripted('cold-boot', { durationMs: 4000 })
    expect(s.mesh.formation.nodesWithMeshPeers).to.equal(12)
    expect(s.mesh.formation.readyMs).to.be.a('number')
    expect(s.mesh.deliveryRatio).to.equal(1)
  })

  it('partition-heal: nothing crosses the cut while it holds, and gossip recovers after the heal', async () => {
    const { s } = await scripted('partition-heal')
    const p = s.mesh.partition!
    expect(p.healAt).to.be.a('number')
    expect(p.crossDeliveriesWhileCut).to.equal(0)
    expect(p.postHealRatio).to.be.at.least(0.95)
    expect(p.recoveryMs).to.be.a('number')
    // the scenario runs DTN: what was published during the cut is on every node by the end
    expect(s.mesh.heal?.allNodesRatio).to.equal(1)
    expect(s.mesh.heal?.via.crossBundle).to.be.greaterThan(0)
  })
})
