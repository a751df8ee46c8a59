import { classifyPairs, missingPairs, snapshot, timeUntil } from '../observe.ts'
import { FULL_MESH_MS } from '../world.ts'
import { deliveries, gossipCopies, publishSignature, revoke, sendBundle } from './actions.ts'
import type { PairKind } from '../observe.ts'
import type { Log, World } from '../world.ts'

/** How long a signature or bundle may take to cross the WAN (through a relay) before it counts as lost. */
const DELIVERY_MS = 30_000
/** The issue's bound for a revocation to cut the node off everywhere. */
export const REVOCATION_BOUND_MS = 2_000
/** How long the lab watches past the bound, so that a late cut is measured rather than just failed. */
const REVOCATION_WATCH_MS = 15_000

export interface TwoSitesResult {
  /** Pairs not authenticated on both sides when the full-mesh wait ended (empty: full mesh). */
  missing: string[]
  meshMs: number | null
  pairs: PairKind[]
  gossip: { messageId: string, from: string, ms: number | null, copies: Record<string, number> }
  bundle: { bundleId: string, from: string, to: string, ms: number | null, inbox: number, logged: number }
  revocation: {
    victim: string
    /** From `ca revoke` returning to: no member holds the victim authenticated and it holds none. */
    ms: number | null
    /** Members still holding the victim authenticated at the end of the watch. */
    holders: string[]
    /** Members the victim still held authenticated at the end (empty, or null when it has exited or does not answer). */
    victimHolds: string[] | null
    victimExit: number | null
  }
}

/**
 * `two-sites`: every member pair authenticates (directly or through a member relay); a signature
 * from site A reaches every member; a bundle from A to a node in B is delivered exactly once; a
 * revocation through the CA's mesh node cuts the revoked node (a3, site A) off everywhere.
 */
export async function twoSites (w: World, log: Log): Promise<TwoSitesResult> {
  const { mesh } = w
  const members = w.members
  const meshMs = await timeUntil(async () => missingPairs(await snapshot(mesh, members), members).length === 0, FULL_MESH_MS, 1000)
  const missing = missingPairs(await snapshot(mesh, members), members)
  const pairs = await classifyPairs(mesh, members, w.natOf)
  log(`two-sites: mesh ${meshMs == null ? `incomplete, missing ${missing.join(' ')}` : 'complete'}; ${pairs.filter(p => p.kind === 'direct').length} direct, ${pairs.filter(p => p.kind === 'relayed').length} relayed`)

  // A signature from site A (a1) must reach every other member.
  const messageId = await publishSignature(mesh, 'a1', `two-sites ${Date.now()}`)
  const others = members.filter(m => m !== 'a1')
  const copies: Record<string, number> = {}
  const gossipMs = await timeUntil(async () => {
    await Promise.all(others.map(async m => { copies[m] = await gossipCopies(mesh, m, messageId).catch(() => 0) }))
    return others.every(m => copies[m] === 1)
  }, DELIVERY_MS, 300)
  log(`two-sites: signature ${messageId} ${gossipMs == null ? 'did not reach everyone' : `reached every member in ${gossipMs} ms`}`)

  // A bundle from a1 (cone NAT) to b1 (symmetric NAT).
  const bundleId = await sendBundle(mesh, 'a1', 'b1', `two-sites bundle ${Date.now()}`)
  const bundleMs = await timeUntil(async () => (await deliveries(mesh, 'b1', bundleId).catch(() => ({ inbox: 0 }))).inbox > 0, DELIVERY_MS, 300)
  log(`two-sites: bundle ${bundleId} ${bundleMs == null ? 'not delivered' : `delivered in ${bundleMs} ms`}`)

  // Revoke a3 through the running CA; its mesh node publishes the CRL at once.
  const victim = 'a3'
  const rest = members.filter(m => m !== victim)
  await revoke(mesh, victim)
  let holders: string[] = rest
  let victimHolds: string[] | null = []
  const revMs = await timeUntil(async () => {
    const snap = await snapshot(mesh, [...rest, victim])
    // A member that does not answer cannot be shown to have dropped the victim: it counts as holding it.
    holders = rest.filter(m => snap.get(m) == null || snap.get(m)?.has(victim) === true)
    const v = snap.get(victim)
    victimHolds = v == null ? null : [...v]
    return holders.length === 0 && (victimHolds == null || victimHolds.length === 0)
  }, REVOCATION_WATCH_MS, 100)
  const victimProc = mesh.node(victim).proc
  log(`two-sites: revocation of ${victim} ${revMs == null ? `not complete after ${REVOCATION_WATCH_MS} ms (still held by ${holders.join(' ')})` : `cut it off in ${revMs} ms`}`)
  w.members = rest

  // Exactly once: counted after the revocation phase, so duplicates had that long to show up.
  const d = await deliveries(mesh, 'b1', bundleId).catch(() => ({ inbox: -1, logged: -1 }))
  return {
    missing,
    meshMs,
    pairs,
    gossip: { messageId, from: 'a1', ms: gossipMs, copies },
    bundle: { bundleId, from: 'a1', to: 'b1', ms: bundleMs, inbox: d.inbox, logged: d.logged },
    revocation: { victim, ms: revMs, holders, victimHolds, victimExit: victimProc.running() ? null : victimProc.child.exitCode }
  }
}
