import { Rng } from '../core/rng.ts'
import { buildTopology } from '../core/topology.ts'
import type { NodeSelector, ResolvedScenario } from './types.ts'
import type { Edge } from '../core/topology.ts'
import type { LinkParams } from '../link/link-model.ts'

/** A concrete action: the scenario's selectors resolved to node indices. `at` is ms after traffic starts. */
export type PlannedAction =
  | { at: number, kind: 'publish', node: number, id: string }
  | { at: number, kind: 'kill', nodes: number[] }
  | { at: number, kind: 'revive', nodes: number[] }
  | { at: number, kind: 'partition', groups: number[][] }
  | { at: number, kind: 'heal' }
  | { at: number, kind: 'link', params: Partial<LinkParams>, pair?: [number, number] }
  | { at: number, kind: 'revoke', nodes: number[], by: number }
  | { at: number, kind: 'flood', node: number, durationMs: number, ratePerSec: number, kinds: Array<'garbage' | 'forged' | 'duplicate'> }

export interface Plan {
  nodes: number
  edges: Edge[]
  /** Nodes that only the bootstrap formation uses as servers (never killed). */
  bootstrapServers: number[]
  actions: PlannedAction[]
}

/** Publishes at most per run: bounds the plan and the event log. */
const MAX_PUBLISHES = 200_000

/**
 * Expands a scenario into the exact run for `seed`: topology, who publishes when, who is killed,
 * revoked or flooding. The same (scenario, nodes, seed) gives the same plan, byte for byte.
 */
export function planRun (s: ResolvedScenario, seed: string): Plan {
  const rng = new Rng(`${seed}/${s.name}/${s.nodes}`)
  const n = s.nodes
  const edges = buildTopology(n, s.topology, rng.fork('topology'))
  const bootstrapServers = s.formation.mode === 'bootstrap' ? Array.from({ length: Math.min(s.formation.bootstrapServers, n) }, (_, i) => i) : []
  const protectedNodes = new Set(bootstrapServers)
  const pick = rng.fork('select')
  const select = (sel: NodeSelector, exclude: Set<number>): number[] => {
    if (Array.isArray(sel)) { return sel.filter(i => i >= 0 && i < n) }
    const pool = Array.from({ length: n }, (_, i) => i).filter(i => !exclude.has(i))
    const k = 'count' in sel ? sel.count : Math.round(sel.fraction * n)
    return pick.sample(pool.length, Math.min(k, pool.length)).map(j => pool[j]).sort((a, b) => a - b)
  }

  const actions: PlannedAction[] = []
  const hostile = new Set<number>()
  const revoked = new Set<number>()
  for (const t of s.timeline) {
    switch (t.action) {
      case 'partition': {
        const groups = t.groups === 'halves' ? [range(0, Math.floor(n / 2)), range(Math.floor(n / 2), n)] : t.groups
        actions.push({ at: t.at, kind: 'partition', groups })
        break
      }
      case 'heal': actions.push({ at: t.at, kind: 'heal' }); break
      case 'link': actions.push({ at: t.at, kind: 'link', params: t.params, ...(t.pair != null ? { pair: t.pair } : {}) }); break
      case 'kill': actions.push({ at: t.at, kind: 'kill', nodes: select(t.nodes, new Set([...protectedNodes, ...hostile])) }); break
      case 'revive': actions.push({ at: t.at, kind: 'revive', nodes: t.nodes != null ? select(t.nodes, new Set()) : [] }); break
      case 'revoke': {
        const nodes = select(t.nodes, new Set([...protectedNodes, ...hostile, ...revoked]))
        nodes.forEach(x => revoked.add(x))
        const candidates = range(0, n).filter(i => !revoked.has(i) && !hostile.has(i))
        actions.push({ at: t.at, kind: 'revoke', nodes, by: candidates[pick.int(candidates.length)] })
        break
      }
      case 'flood': {
        const candidates = range(0, n).filter(i => !protectedNodes.has(i) && !revoked.has(i) && !hostile.has(i))
        const node = candidates[pick.int(candidates.length)]
        hostile.add(node)
        actions.push({ at: t.at, kind: 'flood', node, durationMs: t.durationMs, ratePerSec: t.ratePerSec, kinds: t.kinds ?? ['garbage', 'forged', 'duplicate'] })
        break
      }
      case 'publish': break
      default: throw new Error(`unknown scenario action ${(t as { action: string }).action}`)
    }
  }
  if (s.churn != null) { addChurn(actions, s, rng.fork('churn'), new Set([...protectedNodes, ...hostile, ...revoked])) }
  // "revive" with no nodes revives whatever is down at that time.
  resolveRevives(actions)
  addPublishes(actions, s, rng.fork('publish'), hostile, revoked)
  actions.sort((a, b) => a.at - b.at || order(a) - order(b))
  return { nodes: n, edges, bootstrapServers, actions }
}

function addChurn (actions: PlannedAction[], s: ResolvedScenario, rng: Rng, exclude: Set<number>): void {
  const c = s.churn!
  const down = new Map<number, number>()
  for (let at = c.everyMs; at + c.downMs <= s.durationMs && at < s.durationMs; at += c.everyMs) {
    const pool = range(0, s.nodes).filter(i => !exclude.has(i) && !down.has(i))
    const k = Math.min(pool.length, Math.max(1, Math.round(c.fraction * s.nodes)))
    const nodes = rng.sample(pool.length, k).map(j => pool[j]).sort((a, b) => a - b)
    actions.push({ at, kind: 'kill', nodes })
    actions.push({ at: at + c.downMs, kind: 'revive', nodes })
    for (const x of nodes) { down.set(x, at + c.downMs) }
    for (const [x, until] of down) { if (until <= at + c.everyMs) { down.delete(x) } }
  }
}

function resolveRevives (actions: PlannedAction[]): void {
  actions.sort((a, b) => a.at - b.at || order(a) - order(b))
  const down = new Set<number>()
  for (const a of actions) {
    if (a.kind === 'kill') { a.nodes.forEach(x => down.add(x)) } else if (a.kind === 'revive') {
      if (a.nodes.length === 0) { a.nodes = [...down].sort((x, y) => x - y) }
      a.nodes.forEach(x => down.delete(x))
    }
  }
}

function addPublishes (actions: PlannedAction[], s: ResolvedScenario, rng: Rng, hostile: Set<number>, revoked: Set<number>): void {
  const rate = s.publish.ratePerSec
  if (rate <= 0) { return }
  const honest = range(0, s.nodes).filter(i => !hostile.has(i) && !revoked.has(i))
  const publishers = s.publish.publishers === 'all' ? honest : rng.sample(honest.length, Math.min(s.publish.publishers, honest.length)).map(j => honest[j])
  // Up/down state along the timeline, so a message is only ever published by a running node.
  const changes = actions.filter(a => a.kind === 'kill' || a.kind === 'revive').sort((a, b) => a.at - b.at)
  const down = new Set<number>()
  let ci = 0
  const end = s.durationMs - s.publish.stopBeforeEndMs
  const count = Math.min(MAX_PUBLISHES, Math.floor(end * rate / 1000))
  for (let k = 0; k < count; k++) {
    const at = (k * 1000) / rate
    while (ci < changes.length && changes[ci].at <= at) {
      const c = changes[ci++] as { kind: 'kill' | 'revive', nodes: number[] }
      c.nodes.forEach(x => c.kind === 'kill' ? down.add(x) : down.delete(x))
    }
    const up = publishers.filter(p => !down.has(p))
    if (up.length === 0) { continue }
    actions.push({ at, kind: 'publish', node: up[rng.int(up.length)], id: `m${k}` })
  }
}

/** Same-time actions: topology changes before publishes, so a publish sees the new state. */
function order (a: PlannedAction): number {
  return a.kind === 'publish' ? 1 : 0
}

function range (lo: number, hi: number): number[] {
  return Array.from({ length: Math.max(0, hi - lo) }, (_, i) => lo + i)
}
