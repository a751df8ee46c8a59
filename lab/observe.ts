import type { LabMesh, PeerRow } from './mesh.ts'

/**
 * Polls `check` until it holds or `ms` pass, and returns how long it took (ms), or null at the
 * deadline. The state lives in other processes (their admin APIs), which send no events here.
 */
export async function timeUntil (check: () => Promise<boolean>, ms: number, everyMs = 150): Promise<number | null> {
  const t0 = Date.now()
  while (true) {
    if (await check()) { return Date.now() - t0 }
    if (Date.now() - t0 > ms) { return null }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/** Each listed node's authenticated set, polled together. */
export async function snapshot (mesh: LabMesh, nodeIds: string[]): Promise<Map<string, Set<string> | null>> {
  const sets = await Promise.all(nodeIds.map(async id => mesh.authenticated(id)))
  return new Map(nodeIds.map((id, i) => [id, sets[i]]))
}

/** The member pairs (unordered) that are not authenticated on both sides in `snap`. */
export function missingPairs (snap: Map<string, Set<string> | null>, members: string[]): string[] {
  const missing: string[] = []
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const [a, b] = [members[i], members[j]]
      if (snap.get(a)?.has(b) !== true || snap.get(b)?.has(a) !== true) { missing.push(`${a}-${b}`) }
    }
  }
  return missing
}

/**
 * Whether a peer row is a relayed (circuit v2) session: the node marks it with `relayed`/`limited`,
 * or a relay transport name, or a `/p2p-circuit` remote address.
 */
export function isRelayedRow (r: PeerRow): boolean {
  if (r.relayed === true || r.limited === true) { return true }
  if (r.transport === 'relay' || r.transport === 'circuit' || r.transport === 'p2p-circuit') { return true }
  const addrs = [r.remote_addr, r.addr, r.multiaddr, ...(Array.isArray(r.remote_addrs) ? r.remote_addrs : [])]
  return addrs.some(a => typeof a === 'string' && a.includes('/p2p-circuit'))
}

export interface PairKind { pair: string, kind: 'direct' | 'relayed' | 'none', natTypes: string }

/**
 * Direct or relayed, for every member pair, as the first node of the pair sees it, labelled with
 * the two ends' NAT types ("cone-symmetric", "public-cone", ...).
 */
export async function classifyPairs (mesh: LabMesh, members: string[], natOf: (nodeId: string) => string): Promise<PairKind[]> {
  const rows = new Map<string, PeerRow[] | null>()
  for (const id of members) { rows.set(id, await mesh.peers(id).catch(() => null)) }
  const out: PairKind[] = []
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const [a, b] = [members[i], members[j]]
      const row = rows.get(a)?.find(r => r.node_id === b && r.status === 'authenticated')
      const natTypes = [natOf(a), natOf(b)].sort().join('-')
      out.push({ pair: `${a}-${b}`, kind: row == null ? 'none' : isRelayedRow(row) ? 'relayed' : 'direct', natTypes })
    }
  }
  return out
}

export function percentile (xs: number[], p: number): number | null {
  if (xs.length === 0) { return null }
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

/** The parts of `GET /v1/node` the lab reports: reachability, relay role and counters, DHT mode. */
export interface NodeInfo {
  multiaddrs: string[]
  reachability?: { status: string, verified: string[], mapped: string[] }
  relay?: { serving: boolean, reservations_granted: number, relayed_bytes: number, relays: string[], relayed_addrs: string[], refused: { reservation: number, connect: number, inbound: number } }
  dht?: { mode: string, reason: string }
}

export async function nodeInfo (mesh: LabMesh, nodeId: string): Promise<NodeInfo | null> {
  return mesh.node(nodeId).agent.get<NodeInfo>('/v1/node').catch(() => null)
}

/** Bytes every listed member carried as a relay so far (the relays' own counters). */
export async function relayedBytes (mesh: LabMesh, nodeIds: string[]): Promise<number> {
  let sum = 0
  for (const id of nodeIds) { sum += (await nodeInfo(mesh, id))?.relay?.relayed_bytes ?? 0 }
  return sum
}

/** One line per node: reachability, DHT mode, relay role, reservations held: what explains a missing pair. */
export async function describeNodes (mesh: LabMesh, nodeIds: string[]): Promise<string[]> {
  const out: string[] = []
  for (const id of nodeIds) {
    const i = await nodeInfo(mesh, id)
    if (i == null) { out.push(`${id}: no answer`); continue }
    out.push(`${id}: reachability ${i.reachability?.status ?? '?'}, dht ${i.dht?.mode ?? '?'} (${i.dht?.reason ?? '?'}), relay ${i.relay == null ? 'off' : `${i.relay.serving ? 'serving' : 'not serving'}, ${i.relay.reservations_granted} granted, ${i.relay.relayed_bytes} B relayed, slots on ${i.relay.relays.length} relay(s), refused ${JSON.stringify(i.relay.refused)}`}`)
  }
  return out
}
