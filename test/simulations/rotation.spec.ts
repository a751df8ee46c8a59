import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { runSimulation } from '../../simulations/coordinator/run.ts'
import { attributable } from '../../simulations/metrics/rotation-summary.ts'
import { loadScenario } from '../../simulations/scenario/load.ts'
import { readEvents, recompute } from './recompute.ts'
import type { RunSummary } from '../../simulations/coordinator/summary-file.ts'
import type { Scenario } from '../../simulations/scenario/types.ts'

/**
 * The `rotation` scenario, small: 12 real mesh nodes with 40 s
 * certificates on a run clock at 4x, each rotating with the real lifecycle (new key in its key
 * store, POST /v1/rotate over mutual TLS to the real enrollment service, re-auth of its live
 * sessions) while every node publishes. Checked from summary.json and, independently, from the
 * raw event log: every node rotated at least twice, delivery is 100 %, no auth failure, failed
 * re-auth or ended session that rotation explains, and no session ended for expiry.
 */
describe('simulation: certificate rotation under traffic (small rotation scenario)', function () {
  this.timeout(120_000)
  let dir: string

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-sim-rotation-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('every node rotates at least twice; delivery stays 100 % and nothing fails or ends because of it', async () => {
    // The bundled scenario, scaled down: 40 s certificates at 4x last 10 s of wall time; a node
    // renews every 5.7 to 6.7 s of wall time and has 3.3 s of wall time left to do it in (a
    // third of the lifetime); enrolments are spread over the first 3 s of wall time, so a node's
    // second rotation can come 16 s in. 18 s of traffic and 2 s of drain hold two or three
    // rotations for every node with room for a slow start.
    const base = await loadScenario('rotation')
    const small: Scenario = { ...base, nodes: 12, warmupMs: 2000, durationMs: 18_000, drainMs: 2000, deliveryWindowMs: 3000, publish: { ratePerSec: 4 }, rotation: { certSeconds: 40, clockSpeed: 4, enrollSpreadSeconds: 12 } }
    const file = join(dir, 'rotation-small.json')
    await writeFile(file, JSON.stringify(small))
    const { runDir, summary } = await runSimulation({ scenario: file, shards: 1, seed: 'test', resultsDir: join(dir, 'results') })
    const s = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8')) as RunSummary
    const rot = s.mesh.rotation!
    expect(rot, 'rotation figures').to.not.equal(undefined)
    expect(summary.mesh.rotation?.rotations.total).to.equal(rot.rotations.total)

    // 1. Every node rotated at least twice, over the CA (new serials), and moved its sessions.
    expect(rot.rotations.nodesRotated).to.equal(12)
    expect(rot.rotations.minPerNode).to.be.at.least(2)
    expect(rot.reauth.ok).to.be.greaterThan(0)
    expect(rot.runClockSeconds).to.be.greaterThan(4 * 18)
    // 2. Delivery: the usual definition, recomputed from the log apart from simulations/metrics.
    const events = await readEvents(runDir)
    const r = recompute(events, 'mesh')
    expect(s.mesh.deliveryRatio).to.equal(r.ratio)
    expect(s.mesh.deliveryRatio).to.equal(1)
    expect(s.mesh.messages).to.be.greaterThan(30)
    // 3. Nothing rotation explains went wrong: no such auth failure, failed re-auth or ended session.
    expect(rot.attributableToRotation).to.equal(0)
    expect(rot.sessionsEnded.expired).to.equal(0)
    expect(rot.reauth.failed).to.equal(0)

    // 4. The same from the raw log: rotations per node, serials chained, and no failure of a rotation kind.
    const mesh = events.filter(e => e.a === 'mesh')
    const perNode = new Map<number, Array<{ serial: string, prev: string }>>()
    for (const e of mesh.filter(e => e.e === 'rotated')) { perNode.set(e.n, [...(perNode.get(e.n) ?? []), { serial: e.serial, prev: e.prev }]) }
    expect(perNode.size).to.equal(12)
    for (const [n, rs] of perNode) {
      expect(rs.length, `node ${n}`).to.be.at.least(2)
      // Each rotation replaced the certificate the one before installed.
      for (let i = 1; i < rs.length; i++) { expect(rs[i].prev, `node ${n} rotation ${i}`).to.equal(rs[i - 1].serial) }
    }
    expect(mesh.filter(e => e.e === 'session_ended' && e.code === 'SESSION_EXPIRED')).to.have.length(0)
    expect(mesh.filter(e => e.e === 'auth_failed' && attributable(e as any))).to.have.length(0)
    expect(s.goals.filter(g => g.pass === false).map(g => g.name)).to.deep.equal([])
  })

  it('the classification of auth failures names what rotation can cause and nothing else', () => {
    expect(attributable({ code: 'SESSION_EXPIRED' })).to.equal(true)
    expect(attributable({ code: 'CHAIN_INVALID', chainCode: 'EXPIRED' })).to.equal(true)
    expect(attributable({ code: 'CHAIN_INVALID', chainCode: 'NOT_YET_VALID' })).to.equal(true)
    expect(attributable({ code: 'REMOTE_REJECTED', remoteCode: 'CHAIN_INVALID' })).to.equal(true)
    expect(attributable({ code: 'BAD_TRANSCRIPT_SIGNATURE' })).to.equal(true)
    expect(attributable({ code: 'CHAIN_INVALID', chainCode: 'REVOKED' })).to.equal(false)
    expect(attributable({ code: 'REVOKED' })).to.equal(false)
    expect(attributable({ code: 'CLOSED' })).to.equal(false)
    expect(attributable({ code: 'TIMEOUT' })).to.equal(false)
    expect(attributable({ code: 'REMOTE_REJECTED', remoteCode: 'TIMEOUT' })).to.equal(false)
  })
})
