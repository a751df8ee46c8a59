import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_LINK } from '../link/link-model.ts'
import type { ResolvedScenario, Scenario } from './types.ts'

/** The folder of the bundled scenario files. */
export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'scenarios')

export const SCENARIO_NAMES = ['steady-gossip', 'churn', 'revocation', 'compromised-flood', 'cold-boot', 'partition-heal'] as const

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
export function resolveScenario (s: Scenario, overrides: { nodes?: number, durationMs?: number, rate?: number } = {}): ResolvedScenario {
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
    timeline: [...(s.timeline ?? [])].sort((a, b) => a.at - b.at)
  }
  if (r.nodes < 2 || r.nodes > 5000) { throw new Error('nodes must be between 2 and 5000') }
  if (r.publish.ratePerSec < 0 || r.publish.ratePerSec > 100_000) { throw new Error('publish rate out of range') }
  return r
}
