import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_LINK } from '../link/link-model.ts'
import { resolveDtn } from './dtn-spec.ts'
import type { ResolvedScenario, RotationSpec, Scenario } from './types.ts'

/** The folder of the bundled scenario files. */
export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'scenarios')

export const SCENARIO_NAMES = ['steady-gossip', 'churn', 'revocation', 'compromised-flood', 'cold-boot', 'partition-heal', 'rotation'] as const

/** Loads a scenario by name (from simulations/scenarios/) or by path to a JSON file. */
export async function loadScenario (nameOrPath: string): Promise<Scenario> {
  const path = nameOrPath.endsWith('.json') ? nameOrPath : join(SCENARIO_DIR, `${nameOrPath}.json`)
  const text = await readFile(path, 'utf8')
  const s = JSON.parse(text) as Scenario
  if (typeof s.name !== 'string' || s.name === '') { throw new Error(`${path}: a scenario needs a name`) }
  return s
}

/** Messages per second: explicit, or from the delivery load (2 decimals). */
function rateOf (s: Scenario, nodes: number): number {
  if (s.publish?.ratePerSec != null) { return s.publish.ratePerSec }
  if (s.publish?.deliveriesPerSec != null) { return Math.round((s.publish.deliveriesPerSec / Math.max(1, nodes - 1)) * 100) / 100 }
  return 10
}

/** Fills in every default. */
export function resolveScenario (s: Scenario, overrides: { nodes?: number, durationMs?: number, rate?: number, clockSpeed?: number } = {}): ResolvedScenario {
  const nodes = overrides.nodes ?? s.nodes ?? 50
  const r: ResolvedScenario = {
    name: s.name,
    description: s.description,
    nodes,
    topology: s.topology ?? { kind: 'random-regular', degree: 8 },
    link: { ...DEFAULT_LINK, ...s.link },
    formation: { mode: s.formation?.mode ?? 'topology', bootstrapServers: s.formation?.bootstrapServers ?? 2, targetConnections: s.formation?.targetConnections ?? 8, measured: s.formation?.measured ?? s.formation?.mode === 'bootstrap' },
    warmupMs: s.warmupMs ?? 3000,
    durationMs: overrides.durationMs ?? s.durationMs ?? 10_000,
    drainMs: s.drainMs ?? 3000,
    deliveryWindowMs: s.deliveryWindowMs ?? 5000,
    publish: { ratePerSec: overrides.rate ?? rateOf(s, nodes), publishers: s.publish?.publishers ?? 'all', stopBeforeEndMs: s.publish?.stopBeforeEndMs ?? 0 },
    churn: s.churn,
    verifier: s.verifier ?? 'shared',
    baseline: s.baseline ?? false,
    timeline: [...(s.timeline ?? [])].sort((a, b) => a.at - b.at),
    ...(s.rotation != null ? { rotation: resolveRotation(s.rotation, overrides.clockSpeed) } : {}),
    ...(s.dtn != null ? { dtn: resolveDtn(s.dtn) } : {})
  }
  if (r.nodes < 2 || r.nodes > 5000) { throw new Error('nodes must be between 2 and 5000') }
  if (r.publish.ratePerSec < 0 || r.publish.ratePerSec > 100_000) { throw new Error('publish rate out of range') }
  return r
}

/** The rotation option with its defaults; certificates of 10 s to 7 days, a clock 1 to 100 times real time. */
function resolveRotation (r: RotationSpec, clockSpeed?: number): Required<RotationSpec> {
  const out = { certSeconds: r.certSeconds, clockSpeed: clockSpeed ?? r.clockSpeed ?? 1, enrollSpreadSeconds: r.enrollSpreadSeconds ?? Math.floor(r.certSeconds / 3) }
  if (!Number.isInteger(out.certSeconds) || out.certSeconds < 10 || out.certSeconds > 7 * 24 * 3600) { throw new Error('rotation.certSeconds must be a whole number from 10 to 604800') }
  if (!(out.clockSpeed >= 1 && out.clockSpeed <= 100)) { throw new Error('rotation.clockSpeed must be between 1 and 100') }
  // Past 2/3 of the lifetime a certificate is due at once: the spread stays below that.
  if (!(out.enrollSpreadSeconds >= 0 && out.enrollSpreadSeconds < out.certSeconds * 0.6)) { throw new Error('rotation.enrollSpreadSeconds must be in [0, 0.6 x certSeconds)') }
  return out
}
