import { existsSync } from 'node:fs'
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventWriter, wallNow } from '../metrics/events.ts'
import { initialCertificate, SimCaService } from '../pki/sim-ca-service.ts'
import { SimPki } from '../pki/sim-pki.ts'
import { loadScenario, resolveScenario } from '../scenario/load.ts'
import { planRun } from '../scenario/plan.ts'
import { inProcessShard, processShard } from './shards.ts'
import { buildSummary } from './summary-file.ts'
import type { ShardHandle } from './shards.ts'
import type { RunSummary } from './summary-file.ts'
import type { TransportKind } from '../adapters/types.ts'
import type { SimEvent } from '../metrics/events.ts'
import type { NodeMaterial, TrustMaterial } from '../pki/sim-pki.ts'
import type { Plan } from '../scenario/plan.ts'
import type { ResolvedScenario } from '../scenario/types.ts'
import type { ShardInit } from '../shard/types.ts'

export interface RunOptions {
  scenario: string
  nodes?: number
  transport?: TransportKind
  seed?: string
  /** Shard processes; 1 runs the nodes in this process. @default 2 (both cores) when nodes > 40, else 1 */
  shards?: number
  /** Results root; the run writes to `<resultsDir>/<name>/`. @default results */
  resultsDir?: string
  name?: string
  durationMs?: number
  rate?: number
  /** Run clock speed of a scenario that rotates certificates. @default the scenario's `rotation.clockSpeed` */
  clockSpeed?: number
  /** Run the plain-gossipsub baseline too. @default the scenario's `baseline` */
  baseline?: boolean
  /** Called about twice a second while traffic flows. */
  onProgress?(p: Progress): void
  /**
   * Where the shards' LevelDB stores and sockets go. @default /dev/shm when present: this VM's
   * disk stalls single writes for 20 to 200 ms now and then, which would measure the disk.
   */
  storeDir?: string
  /** Called when a phase starts. */
  onPhase?(phase: string): void
}

export interface Progress { adapter: string, phase: string, elapsedMs: number, totalMs: number, deliveries: number, expected: number, up: number }

export interface RunResult { runDir: string, summary: RunSummary }

/** Enrollments in flight at once (CSR signing and CA issue overlap). */
const ENROLL_CONCURRENCY = 8

/**
 * One harness run: plan from (scenario, nodes, seed), a real CA enrolling every node, then the
 * mesh (and the baseline, when asked) over the same plan, each in its shards, and finally the
 * merged event log, summary.json and report.html under results/<run>/.
 */
export async function runSimulation (opts: RunOptions): Promise<RunResult> {
  const started = wallNow()
  const scenario = resolveScenario(await loadScenario(opts.scenario), { nodes: opts.nodes, durationMs: opts.durationMs, rate: opts.rate, clockSpeed: opts.clockSpeed })
  const seed = opts.seed ?? '1'
  const transport = opts.transport ?? 'memory'
  const shards = Math.max(1, Math.min(opts.shards ?? (scenario.nodes > 40 ? 2 : 1), scenario.nodes))
  const plan = planRun(scenario, seed)
  const name = opts.name ?? `${scenario.name}-n${scenario.nodes}-${transport}-s${seed}-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const runDir = join(opts.resultsDir ?? 'results', name)
  await mkdir(runDir, { recursive: true })
  const work = await mkdtemp(join(opts.storeDir ?? defaultStoreDir(), 'dadm-sim-'))
  const timings: Record<string, number> = {}
  const rotation = scenario.rotation
  let ca: SimCaService | undefined
  try {
    opts.onPhase?.('enroll')
    let t = wallNow()
    // Rotating: the CA lives in the store dir and serves during the run (pki/sim-ca-service.ts).
    const pki = await SimPki.create(Date.now(), rotation != null ? { parent: work, nodeCertSeconds: rotation.certSeconds } : {})
    const materials: NodeMaterial[] = new Array(scenario.nodes)
    let next = 0
    await Promise.all(Array.from({ length: ENROLL_CONCURRENCY }, async () => {
      while (next < scenario.nodes) { const i = next++; materials[i] = await pki.enroll(i, Date.now(), rotation != null ? initialCertificate(rotation, seed, i, Date.now()) : undefined) }
    }))
    const crls: Record<number, Uint8Array> = {}
    for (let i = 0; i < plan.actions.length; i++) {
      const a = plan.actions[i]
      if (a.kind === 'revoke') { crls[i] = await pki.revoke(a.nodes.map(r => materials[r].serialHex), Date.now()) }
    }
    const trust = pki.trust
    if (rotation != null) { ca = await SimCaService.start(pki, rotation.clockSpeed) } else { await pki.close() }
    timings.enrollMs = wallNow() - t

    const adapters: Array<'mesh' | 'plain'> = ['mesh', ...((opts.baseline ?? scenario.baseline) ? ['plain' as const] : [])]
    let payloadBytes = 0
    for (const adapter of adapters) {
      t = wallNow()
      const r = await runAdapter({ adapter, scenario, plan, seed, transport, shards, materials, trust, crls, runDir, work, payloadBytes, opts, ...(adapter === 'mesh' && ca != null ? { ca } : {}) })
      payloadBytes = r.envelopeBytes
      timings[`${adapter}Ms`] = wallNow() - t
    }

    opts.onPhase?.('report')
    const events = await mergeEvents(runDir, scenario.deliveryWindowMs)
    const summary = buildSummary({ name, scenario, seed, transport, shards, events, timings: { ...timings, totalMs: wallNow() - started } })
    await writeFile(join(runDir, 'summary.json'), JSON.stringify(summary, null, 2))
    const { renderReport } = await import('../output/report-html.ts')
    await writeFile(join(runDir, 'report.html'), renderReport(summary))
    return { runDir, summary }
  } finally {
    await ca?.close()
    await rm(work, { recursive: true, force: true })
  }
}

interface AdapterRun {
  adapter: 'mesh' | 'plain'
  scenario: ResolvedScenario
  plan: Plan
  seed: string
  transport: TransportKind
  shards: number
  materials: NodeMaterial[]
  trust: TrustMaterial
  crls: Record<number, Uint8Array>
  runDir: string
  work: string
  payloadBytes: number
  opts: RunOptions
  /** The enrollment service nodes rotate with (mesh run of a rotation scenario). */
  ca?: SimCaService
}

async function runAdapter (r: AdapterRun): Promise<{ envelopeBytes: number }> {
  const { scenario, plan } = r
  const tag = `${r.adapter}-${Math.random().toString(36).slice(2, 8)}`
  const shardOf = r.materials.map((_, i) => i % r.shards)
  const header = new EventWriter(join(r.runDir, `events.${r.adapter}.run.ndjson`))
  header.write({ e: 'run', t: wallNow(), run: tag, scenario: scenario.name, adapter: r.adapter, seed: r.seed, nodes: scenario.nodes, transport: r.transport, shards: r.shards })
  header.write({ e: 'topology', t: wallNow(), edges: plan.edges.map(e => [e.dialer, e.dialer === e.a ? e.b : e.a]) })
  await header.close()
  const inits: ShardInit[] = Array.from({ length: r.shards }, (_, k) => ({
    tag,
    runDir: r.runDir,
    workDir: join(r.work, `${tag}-${k}`),
    shard: k,
    shards: r.shards,
    adapter: r.adapter,
    transport: r.transport,
    seed: r.seed,
    scenario,
    plan,
    peerIds: r.materials.map(m => m.peerId),
    shardOf,
    materials: r.materials.filter(m => shardOf[m.index] === k),
    trust: r.trust,
    crls: r.crls,
    // The baseline carries as many bytes per message as the mesh's envelopes did.
    payloadBytes: r.payloadBytes > 0 ? r.payloadBytes : 1500,
    serials: r.materials.map(m => m.serialHex),
    ...(r.ca != null ? { rotation: { caUrl: r.ca.url } } : {})
  }))
  const handles: ShardHandle[] = inits.map(i => r.shards === 1 ? inProcessShard(i) : processShard(i))
  const all = async (msg: Parameters<ShardHandle['step']>[0]): Promise<Array<Record<string, number> | undefined>> => Promise.all(handles.map(async h => h.step(msg)))
  try {
    r.opts.onPhase?.(`${r.adapter}: start ${scenario.nodes} nodes`)
    await all({ op: 'init', init: inits[0] })
    await all({ op: 'bridge' })
    r.opts.onPhase?.(`${r.adapter}: connect`)
    await all({ op: 'form' })
    r.opts.onPhase?.(`${r.adapter}: warm up`)
    // Cold boot waits as long as it takes (up to warmupMs) for meshes to form; the others let
    // gossipsub's heartbeat (1 s) settle the meshes for warmupMs.
    const measured = scenario.formation.measured
    await all({ op: 'warm', timeoutMs: measured ? scenario.warmupMs : scenario.warmupMs + 5000, minMs: measured ? 2000 : scenario.warmupMs })
    r.opts.onPhase?.(`${r.adapter}: traffic`)
    const t0 = wallNow() + 200
    r.ca?.clock.startFast(t0)
    const totalMs = scenario.durationMs + scenario.drainMs
    const publishes = plan.actions.filter(a => a.kind === 'publish').length
    const ticker = setInterval(() => {
      void Promise.all(handles.map(async h => h.progress())).then(ps => {
        r.opts.onProgress?.({
          adapter: r.adapter,
          phase: 'traffic',
          elapsedMs: wallNow() - t0,
          totalMs,
          deliveries: ps.reduce((a, p) => a + p.deliveries, 0),
          expected: publishes * (scenario.nodes - 1),
          up: ps.reduce((a, p) => a + p.up, 0)
        })
      })
    }, 500)
    try {
      await all({ op: 'traffic', t0 })
      const rest = t0 + totalMs - wallNow()
      if (rest > 0) { await sleep(rest) }
    } finally {
      clearInterval(ticker)
    }
    r.opts.onPhase?.(`${r.adapter}: stop`)
    await all({ op: 'finish' })
  } catch (err) {
    handles.forEach(h => { h.kill() })
    throw err
  }
  return { envelopeBytes: await envelopeBytesOf(r.runDir, r.adapter) }
}

/** The mesh's message size as its publish events recorded it. */
async function envelopeBytesOf (runDir: string, adapter: string): Promise<number> {
  if (adapter !== 'mesh') { return 0 }
  for (const f of await readdir(runDir)) {
    if (!f.startsWith('events.mesh.shard')) { continue }
    for (const line of (await readFile(join(runDir, f), 'utf8')).split('\n')) {
      if (line.includes('"e":"publish"')) { return (JSON.parse(line) as { bytes: number }).bytes }
    }
  }
  return 0
}

/** Merges every part file into events.ndjson (time order, each line tagged with its adapter `a`), then removes the parts. */
async function mergeEvents (runDir: string, windowMs: number): Promise<Array<SimEvent & { a: string }>> {
  const files = (await readdir(runDir)).filter(f => /^events\.(mesh|plain)\..+\.ndjson$/.test(f))
  const out: Array<SimEvent & { a: string }> = []
  for (const f of files) {
    const a = f.split('.')[1]
    for (const line of (await readFile(join(runDir, f), 'utf8')).split('\n')) {
      if (line.trim() === '') { continue }
      out.push({ ...(JSON.parse(line) as SimEvent), a })
    }
  }
  out.sort((x, y) => x.t - y.t)
  const head = JSON.stringify({ e: 'log', t: out[0]?.t ?? 0, a: '-', windowMs, version: 1 })
  await writeFile(join(runDir, 'events.ndjson'), head + '\n' + out.map(e => JSON.stringify(e)).join('\n') + '\n')
  for (const f of files) { await rm(join(runDir, f)) }
  return out
}

function defaultStoreDir (): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
