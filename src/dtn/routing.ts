import { BROADCAST } from './eid.ts'

/**
 * Routing decisions as pure functions, so each rule is tested without a network:
 *
 * - the destination is connected and authenticated: hand it over directly;
 * - otherwise BINARY spray-and-wait (Spyropoulos et al., WDTN 2005), the copy-bounded scheme we
 * chose: a node holding n > 1 logical copies gives floor(n/2) to a relay it meets and keeps
 * the rest; with one copy left it waits for the destination. Relays are the peers flagged as
 * relays (certificate or config) first, then any authenticated peer;
 * - `broadcast` floods to every authenticated peer that does not have it yet; receivers
 * deduplicate by bundle id, so a flood ends where every node has seen it.
 *
 * Custody: every hand-over is acknowledged by the receiver after its durable write; the sender
 * releases a direct hand-over only after that ACK, and for a spray keeps its share.
 */

export type RouteDecision =
  /** Give the bundle to `peer` (its destination) and release it after the ACK. */
  | { action: 'direct', peer: string }
  /** Give `copies` logical copies to each relay; keep `keep` (the sum is what we held). */
  | { action: 'spray', handoffs: Array<{ peer: string, copies: number }>, keep: number }
  /** Give a copy to each peer (broadcast); keep ours until it expires. */
  | { action: 'flood', peers: string[] }
  /** Nothing to do now: keep it, retry on schedule or when a peer connects. */
  | { action: 'wait' }
  /** It can never leave this node (expired, or no hop left). */
  | { action: 'drop', reason: 'expired' | 'hop-limit' }

export interface RouteInput {
  now: number
  destination: string
  expiresAt: number
  hopCount: number
  hopLimit: number
  /** Logical copies held (binary spray-and-wait). */
  copies: number
  /** node_ids of connected, authenticated peers. */
  connected: readonly string[]
  /** Those of them flagged as relays (preferred for spraying). @default none */
  relays?: readonly string[]
  /** node_ids known to hold it already (acked, said duplicate, or sent it to us). */
  holders: readonly string[]
  /** This node's own node_id (never a next hop). */
  self: string
}

/** Decides what to do with one held bundle now. */
export function route (input: RouteInput): RouteDecision {
  if (input.now >= input.expiresAt) { return { action: 'drop', reason: 'expired' } }
  // every hand-over raises the hop count by one; the receiver refuses a count over the limit
  if (input.hopCount + 1 > input.hopLimit) { return { action: 'drop', reason: 'hop-limit' } }
  const holders = new Set(input.holders)
  holders.add(input.self)
  const candidates = input.connected.filter(p => !holders.has(p))

  if (input.destination === BROADCAST) {
    return candidates.length > 0 ? { action: 'flood', peers: [...new Set(candidates)] } : { action: 'wait' }
  }
  if (candidates.includes(input.destination)) { return { action: 'direct', peer: input.destination } }
  return spray(input.copies, candidates, input.relays ?? [])
}

/** Binary spray: hand floor(n/2) to each relay in turn while more than one copy is held. */
export function spray (copies: number, candidates: readonly string[], relays: readonly string[]): RouteDecision {
  const flagged = new Set(relays)
  const ordered = [...new Set([...candidates.filter(p => flagged.has(p)), ...candidates.filter(p => !flagged.has(p))])]
  let keep = Math.max(1, Math.floor(copies))
  const handoffs: Array<{ peer: string, copies: number }> = []
  for (const peer of ordered) {
    if (keep <= 1) { break }
    const give = Math.floor(keep / 2)
    handoffs.push({ peer, copies: give })
    keep -= give
  }
  return handoffs.length > 0 ? { action: 'spray', handoffs, keep } : { action: 'wait' }
}
