import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { grid } from '../output/table.ts'
import { runSimulation } from './run.ts'
import { nextRefinement } from './sweep-refine.ts'
import type { Progress } from './run.ts'
import type { SimArgs } from '../cli/args.ts'
import type { AdapterSummary } from '../metrics/summary.ts'

export interface SweepStep { rate: number, adapter: string, deliveriesPerSecond: number | null, p99: number | null, deliveryRatio: number | null, sustained: boolean, cpuS: number }

export interface SweepResult {
  steps: SweepStep[]
  /** Highest sustained deliveries/s (p99 <= 1 s, delivery >= 99%), whole run and per shard process. */
  mesh: { best: number, perProcess: number }
  baseline: { best: number, perProcess: number }
  ratio: number | null
  shards: number
  text: string
}

/** p99 above this ends the sweep: a rate is "sustained" only while p99 stays within 1 s, so higher rates add no figure. */
const P99_LIMIT_MS = 1000
/** Below this delivery ratio a rate is not "sustained" either. */
const MIN_DELIVERY = 0.99

/**
 * `--load-sweep`: steady-gossip at rising publish rates (start x factor^k), mesh and baseline at
 * each rate on the same plan, until both have passed p99 1 s (or the steps run out), then
 * `--sweep-refine` runs that bisect the brackets. Reports the highest sustained deliveries per
 * second of each and their ratio.
 */
export async function runLoadSweep (o: { args: SimArgs, onPhase?(p: string): void, onProgress?(p: Progress): void }): Promise<SweepResult> {
  const a = o.args
  const name = a.name ?? `load-sweep-n${a.nodes ?? 100}-${a.transport}-s${a.seed}-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const dir = join(a.results, name)
  await mkdir(dir, { recursive: true })
  const steps: SweepStep[] = []
  let shards = 1
  let runs = 0
  const runStep = async (rate: number, baseline: boolean, label: string): Promise<void> => {
    o.onPhase?.(`sweep ${label}: ${rate} msg/s`)
    const { summary } = await runSimulation({
      scenario: a.scenario === 'steady-gossip' ? 'steady-gossip' : a.scenario,
      nodes: a.nodes ?? 100,
      transport: a.transport,
      seed: a.seed,
      ...(a.shards != null ? { shards: a.shards } : {}),
      durationMs: a.durationMs ?? 8000,
      rate,
      baseline,
      resultsDir: dir,
      name: `step-${++runs}-rate-${rate}`,
      ...(a.storeDir != null ? { storeDir: a.storeDir } : {}),
      ...(o.onPhase != null ? { onPhase: o.onPhase } : {}),
      ...(o.onProgress != null ? { onProgress: o.onProgress } : {})
    })
    shards = summary.shards
    steps.push(...[summary.mesh, summary.baseline].filter(s => s != null).map(s => stepOf(rate, s)))
  }
  // Geometric steps until each side has failed once.
  const failed = (adapter: string): boolean => steps.some(s => s.adapter === adapter && !s.sustained)
  for (let k = 0; k < a.sweepSteps && !(failed('mesh') && failed('plain')); k++) {
    const rate = Math.round(a.sweepStart * a.sweepFactor ** k * 100) / 100
    await runStep(rate, !failed('plain'), `step ${k + 1}`)
  }
  // Then narrow the widest bracket (last sustained, first failed) by its geometric midpoint: with
  // factor 1.6 the highest sustained rate could sit up to 60% below the real limit. The mesh runs
  // every time (the baseline's message size comes from it); the baseline only where it narrows
  // the baseline's own bracket.
  for (let k = 0; k < a.sweepRefine; k++) {
    const next = nextRefinement(steps, ['mesh', 'plain'])
    if (next == null) { break }
    await runStep(next.rate, next.adapters.includes('plain'), `refine ${k + 1}`)
  }
  steps.sort((x, y) => x.rate - y.rate || x.adapter.localeCompare(y.adapter))
  const best = (adapter: string): number => Math.max(0, ...steps.filter(s => s.adapter === adapter && s.sustained).map(s => s.deliveriesPerSecond ?? 0))
  const mesh = best('mesh')
  const plain = best('plain')
  const r: Omit<SweepResult, 'text'> = {
    steps,
    mesh: { best: mesh, perProcess: Math.round(mesh / shards) },
    baseline: { best: plain, perProcess: Math.round(plain / shards) },
    ratio: plain > 0 ? Math.round((mesh / plain) * 1000) / 1000 : null,
    shards
  }
  const text = sweepText(r)
  await writeFile(join(dir, 'sweep.json'), JSON.stringify(r, null, 2))
  await writeFile(join(dir, 'sweep.txt'), text + '\n')
  return { ...r, text: text + `\n\nresults: ${dir}/ (sweep.json, one run folder per step)` }
}

function stepOf (rate: number, s: AdapterSummary): SweepStep {
  const sustained = s.latencyMs.p99 != null && s.latencyMs.p99 <= P99_LIMIT_MS && (s.deliveryRatio ?? 0) >= MIN_DELIVERY
  return { rate, adapter: s.adapter, deliveriesPerSecond: s.deliveriesPerSecond, p99: s.latencyMs.p99, deliveryRatio: s.deliveryRatio, sustained, cpuS: s.shards.reduce((x, y) => x + y.cpuS, 0) }
}

function sweepText (r: Omit<SweepResult, 'text'>): string {
  const rows = [['rate msg/s', 'adapter', 'deliveries/s', 'p99 ms', 'delivery', 'sustained']]
  for (const s of r.steps) { rows.push([String(s.rate), s.adapter, String(s.deliveriesPerSecond ?? 'n/a'), String(s.p99 ?? 'n/a'), s.deliveryRatio == null ? 'n/a' : `${(s.deliveryRatio * 100).toFixed(2)}%`, s.sustained ? 'yes' : 'no']) }
  const L = grid(rows)
  L.push('')
  L.push(`highest sustained deliveries/s: mesh ${r.mesh.best} (${r.mesh.perProcess} per shard process), baseline ${r.baseline.best} (${r.baseline.perProcess} per process), ${r.shards} shard(s)`)
  L.push('goals:')
  L.push(`  ${r.ratio != null && r.ratio >= 0.8 ? 'ok ' : 'NO '} mesh / baseline sustained deliveries: ${r.ratio ?? 'n/a'} (target >= 0.8)`)
  L.push(`  ${r.mesh.perProcess >= 2000 ? 'ok ' : 'NO '} mesh deliveries/s per process: ${r.mesh.perProcess} (target >= 2000)`)
  return L.join('\n')
}
