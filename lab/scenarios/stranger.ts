import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PUBLIC_QUIC_PORT } from '../mesh.ts'
import { missingPairs, snapshot, timeUntil } from '../observe.ts'
import { FULL_MESH_MS } from '../world.ts'
import type { Log, World } from '../world.ts'

const STRANGER = join(dirname(fileURLToPath(import.meta.url)), '..', 'stranger.ts')

export interface HopAnswer { status: string | null, error: string | null }
export interface StrangerResult {
  missingBefore: string[]
  relay: string
  member: string
  reserve: HopAnswer
  connect: HopAnswer
  relayedDial: { ok: boolean, error: string | null }
  dht: { found: string[], error: string | null }
  learned: { peers: string[], relayProtocols: string[], relayAddrs: string[] }
  /** Members whose peer table lists any peer that is not a member (the stranger would be one). */
  listedBy: string[]
  missingAfter: string[]
}

/**
 * `stranger`: a plain libp2p peer (no certificate) on the WAN asks the public member for a relay
 * reservation and for a relayed connection to a member behind NAT, dials that member through the
 * relay, and asks the DHT for it. It must be refused each time and learn nothing; no member lists
 * it; the mesh is untouched.
 */
export async function stranger (w: World, log: Log): Promise<StrangerResult> {
  const { mesh, lab } = w
  const members = w.members
  await timeUntil(async () => missingPairs(await snapshot(mesh, members), members).length === 0, FULL_MESH_MS, 1000)
  const missingBefore = missingPairs(await snapshot(mesh, members), members)
  const relay = mesh.bootstrapAddr('pub', PUBLIC_QUIC_PORT)
  const member = mesh.node('a1').peerId
  const out = await lab.exec('str', [process.execPath, STRANGER, 'attack', relay, member], { timeoutMs: 90_000 })
  const r = JSON.parse(out) as Omit<StrangerResult, 'missingBefore' | 'relay' | 'member' | 'listedBy' | 'missingAfter'>
  log(`stranger: reserve ${r.reserve.status ?? r.reserve.error}; connect ${r.connect.status ?? r.connect.error}; relayed dial ${r.relayedDial.ok ? 'OPENED' : 'refused'}; learnt ${r.learned.peers.length} peers, ${r.learned.relayProtocols.length} protocols`)
  const memberPeers = new Set([...mesh.nodes.values()].map(n => n.peerId))
  if (mesh.caMesh != null) { memberPeers.add(mesh.caMesh.peerId) }
  const listedBy: string[] = []
  for (const m of members) {
    const rows = await mesh.peers(m).catch(() => [])
    if (rows.some(row => !memberPeers.has(row.peer_id))) { listedBy.push(m) }
  }
  const missingAfter = missingPairs(await snapshot(mesh, members), members)
  return { missingBefore, relay, member, ...r, listedBy, missingAfter }
}
