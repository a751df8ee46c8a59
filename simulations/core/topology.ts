import type { Rng } from './rng.ts'

/** An undirected edge; `dialer` is the end that opens the connection. */
export interface Edge {
  a: number
  b: number
  dialer: number
}

export interface TopologySpec {
  /** `random-regular`: a ring for connectivity plus random links up to `degree`. `full`: everyone. */
  kind: 'random-regular' | 'full'
  /** Target links per node. @default 8 */
  degree?: number
}

/**
 * A sparse, connected graph over `n` nodes, the same for the same seed: a ring (so the graph is
 * connected whatever the draws) plus random chords until every node has about `degree` links.
 * Degree 8 covers gossipsub's mesh degree (D 6, D_hi 12 needs only some headroom) at a fraction
 * of a full mesh's connections.
 */
export function buildTopology (n: number, spec: TopologySpec, rng: Rng): Edge[] {
  const edges: Edge[] = []
  const seen = new Set<string>()
  const degree = new Array<number>(n).fill(0)
  const add = (a: number, b: number): boolean => {
    if (a === b) { return false }
    const key = a < b ? `${a}-${b}` : `${b}-${a}`
    if (seen.has(key)) { return false }
    seen.add(key)
    degree[a]++; degree[b]++
    edges.push({ a: Math.min(a, b), b: Math.max(a, b), dialer: rng.next() < 0.5 ? a : b })
    return true
  }
  if (spec.kind === 'full') {
    for (let a = 0; a < n; a++) { for (let b = a + 1; b < n; b++) { add(a, b) } }
    return edges
  }
  const d = Math.min(spec.degree ?? 8, n - 1)
  if (n < 2) { return edges }
  for (let i = 0; i < n; i++) { add(i, (i + 1) % n) }
  // Bounded: each node gets at most 20 * d draws to find a partner with room.
  for (let i = 0; i < n; i++) {
    for (let tries = 0; degree[i] < d && tries < 20 * d; tries++) {
      const j = rng.int(n)
      if (degree[j] < d) { add(i, j) }
    }
  }
  return edges
}

/** Neighbours of each node. */
export function adjacency (n: number, edges: Edge[]): number[][] {
  const adj: number[][] = Array.from({ length: n }, () => [])
  for (const e of edges) { adj[e.a].push(e.b); adj[e.b].push(e.a) }
  return adj
}
