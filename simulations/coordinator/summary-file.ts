import { healGoal } from '../metrics/heal.ts'
import { summarize } from '../metrics/summary.ts'
import type { SimEvent } from '../metrics/events.ts'
import type { AdapterSummary } from '../metrics/summary.ts'
import type { ResolvedScenario } from '../scenario/types.ts'

export interface Goal { name: string, target: string, value: string, pass: boolean | null, note?: string }

/** summary.json: the run's figures, computed from events.ndjson only (plus wall times). */
export interface RunSummary {
  version: 1
  name: string
  scenario: string
  description?: string
  seed: string
  nodes: number
  transport: string
  shards: number
  link: ResolvedScenario['link']
  windowMs: number
  timings: Record<string, number>
  mesh: AdapterSummary
  baseline?: AdapterSummary
  /** ours / baseline for every latency figure. */
  latencyRatios?: { p50: number | null, p90: number | null, p99: number | null, max: number | null, mean: number | null }
  peakRssMB: number
  goals: Goal[]
}

export interface SummaryInput {
  name: string
  scenario: ResolvedScenario
  seed: string
  transport: string
  shards: number
  events: Array<SimEvent & { a: string }>
  timings: Record<string, number>
}

/** Builds summary.json's content from the merged events. */
export function buildSummary (i: SummaryInput): RunSummary {
  const windowMs = i.scenario.deliveryWindowMs
  const mesh = summarize(i.events.filter(e => e.a === 'mesh'), windowMs)
  const plainEvents = i.events.filter(e => e.a === 'plain')
  const baseline = plainEvents.length > 0 ? summarize(plainEvents, windowMs) : undefined
  const ratio = (a: number | null, b: number | null | undefined): number | null => a != null && b != null && b > 0 ? Math.round((a / b) * 1000) / 1000 : null
  const latencyRatios = baseline != null
    ? { p50: ratio(mesh.latencyMs.p50, baseline.latencyMs.p50), p90: ratio(mesh.latencyMs.p90, baseline.latencyMs.p90), p99: ratio(mesh.latencyMs.p99, baseline.latencyMs.p99), max: ratio(mesh.latencyMs.max, baseline.latencyMs.max), mean: ratio(mesh.latencyMs.mean, baseline.latencyMs.mean) }
    : undefined
  const peakRssMB = Math.max(0, ...mesh.shards.map(s => s.peakRssMB), ...(baseline?.shards.map(s => s.peakRssMB) ?? []))
  const s: RunSummary = {
    version: 1,
    name: i.name,
    scenario: i.scenario.name,
    ...(i.scenario.description != null ? { description: i.scenario.description } : {}),
    seed: i.seed,
    nodes: i.scenario.nodes,
    transport: i.transport,
    shards: i.shards,
    link: i.scenario.link,
    windowMs,
    timings: Object.fromEntries(Object.entries(i.timings).map(([k, v]) => [k, Math.round(v)])),
    mesh,
    ...(baseline != null ? { baseline } : {}),
    ...(latencyRatios != null ? { latencyRatios } : {}),
    peakRssMB,
    goals: []
  }
  s.goals = goalsOf(s)
  return s
}

/** The pass/fail goals this run has the figures to judge; the others are left out, not failed. */
export function goalsOf (s: RunSummary): Goal[] {
  const goals: Goal[] = []
  const rot = s.mesh.rotation
  if (s.scenario === 'steady-gossip' || rot != null) {
    goals.push({ name: 'delivery', target: '100%', value: pct(s.mesh.deliveryRatio), pass: s.mesh.deliveryRatio === 1 })
  }
  if (rot != null) {
    goals.push({ name: 'auth failures attributable to rotation', target: '0', value: String(rot.attributableToRotation), pass: rot.attributableToRotation === 0 })
    goals.push({ name: 'sessions ended for expiry', target: '0', value: String(rot.sessionsEnded.expired), pass: rot.sessionsEnded.expired === 0 })
    goals.push({ name: 'every node rotated', target: `${s.nodes} nodes`, value: `${rot.rotations.nodesRotated} nodes (min ${rot.rotations.minPerNode} rotations)`, pass: rot.rotations.nodesRotated === s.nodes })
  }
  if (s.latencyRatios?.p99 != null) {
    goals.push({
      name: 'p99 latency vs plain gossipsub',
      target: '<= 1.3x (judged at 500 nodes)',
      value: `${s.latencyRatios.p99}x (${s.mesh.latencyMs.p99} / ${s.baseline?.latencyMs.p99} ms)`,
      pass: s.latencyRatios.p99 <= 1.3,
      ...(s.nodes !== 500 ? { note: `this run has ${s.nodes} nodes` } : {})
    })
  }
  const iso = s.mesh.isolation
  if (iso != null) {
    goals.push({
      name: 'revoked node isolated on every node',
      target: '<= 2000 ms after the CRL (50 ms links)',
      value: iso.allIsolatedMs != null ? `${iso.allIsolatedMs} ms` : `incomplete (${iso.curve.length}/${iso.expectedPairs})`,
      pass: iso.allIsolatedMs != null && iso.allIsolatedMs <= 2000,
      ...(s.link.latencyMs !== 50 ? { note: `links at ${s.link.latencyMs} ms` } : {})
    })
  }
  if (s.mesh.heal != null) { goals.push(healGoal(s.mesh.heal)) }
  goals.push({ name: 'peak RSS (largest shard)', target: 'printed', value: `${s.peakRssMB} MB`, pass: null })
  return goals
}

function pct (x: number | null): string {
  return x == null ? 'n/a' : `${(x * 100).toFixed(2)}%`
}
