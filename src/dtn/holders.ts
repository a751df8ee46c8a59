/**
 * Who may receive bundles for a node_id: the peer holding the NEWEST live certificate of that
 * node_id, and no one else. Two peers can claim one node_id (a key rotation under a new PeerId,
 * a replacement enrollment, or a squatter who got a certificate for it); the older holder may be
 * an impostor or a retired machine, and a bundle handed to it leaves custody for good. So among
 * the certificates the node has seen for a node_id (its peer table, connected or not), the newest
 * live one wins - by notBefore, then by serial number (serials are random, so that tie-break is
 * arbitrary, but every node breaks it the same way) - and every other holder is refused, even
 * when the newest one is not connected now: the bundle then waits for it.
 *
 * Pure: the caller passes the peers, the clock and the revocation state.
 */

/** Why a connected, authenticated peer is not handed bundles. */
export type HolderRefusalCode =
  /** Another certificate for the same node_id is newer (notBefore, then serial). */
  | 'HOLDER_SUPERSEDED'
  /** The peer's certificate is revoked by a CRL this node installed (reason `superseded` included). */
  | 'HOLDER_REVOKED'
  /** The peer's certificate is past its notAfter. */
  | 'HOLDER_EXPIRED'

export const HOLDER_REFUSAL_CODES: readonly HolderRefusalCode[] = ['HOLDER_SUPERSEDED', 'HOLDER_REVOKED', 'HOLDER_EXPIRED']

/** What the peer table knows of a peer, as far as this choice needs. */
export interface HolderCandidate {
  peerId: string
  nodeId: string
  /** Only `authenticated` peers can receive; the others still count as "seen" certificates. */
  status: string
  identity: { serialHex: string, notBefore: number, notAfter: number }
}

export interface HolderRefusal { peerId: string, nodeId: string, serialHex: string, code: HolderRefusalCode }

export interface Holders {
  /** node_id -> PeerId of the one peer that may receive bundles for it now. */
  eligible: Map<string, string>
  /** Authenticated peers that may not, and why. */
  refused: HolderRefusal[]
}

/**
 * Chooses the holder of each node_id among `peers` at `now`. A peer whose certificate
 * `isRevoked` (or whose check throws: fail closed) is refused and never counts as newer.
 */
export function chooseHolders (peers: readonly HolderCandidate[], now: number, isRevoked: (p: HolderCandidate) => boolean = () => false): Holders {
  const newest = new Map<string, HolderCandidate>()
  const state = new Map<HolderCandidate, HolderRefusalCode | undefined>()
  for (const p of peers) {
    let code: HolderRefusalCode | undefined
    if (now >= p.identity.notAfter) {
      code = 'HOLDER_EXPIRED'
    } else if (revoked(p, isRevoked)) {
      code = 'HOLDER_REVOKED'
    }
    state.set(p, code)
    if (code != null) { continue }
    const best = newest.get(p.nodeId)
    if (best == null || newer(p, best)) { newest.set(p.nodeId, p) }
  }
  const eligible = new Map<string, string>()
  const refused: HolderRefusal[] = []
  for (const p of peers) {
    if (p.status !== 'authenticated') { continue }
    const code = state.get(p) ?? (newest.get(p.nodeId) === p ? undefined : 'HOLDER_SUPERSEDED')
    if (code == null) {
      eligible.set(p.nodeId, p.peerId)
    } else {
      refused.push({ peerId: p.peerId, nodeId: p.nodeId, serialHex: p.identity.serialHex, code })
    }
  }
  return { eligible, refused }
}

function revoked (p: HolderCandidate, isRevoked: (p: HolderCandidate) => boolean): boolean {
  try {
    return isRevoked(p)
  } catch {
    return true
  }
}

/** True when `a`'s certificate is newer than `b`'s: later notBefore, then the larger serial. */
export function newer (a: HolderCandidate, b: HolderCandidate): boolean {
  if (a.identity.notBefore !== b.identity.notBefore) { return a.identity.notBefore > b.identity.notBefore }
  return compareSerials(a.identity.serialHex, b.identity.serialHex) > 0
}

/** Compares two hex serials as numbers (leading zeros and case do not matter). */
export function compareSerials (a: string, b: string): number {
  const x = a.replace(/^0+/, '').toLowerCase()
  const y = b.replace(/^0+/, '').toLowerCase()
  if (x.length !== y.length) { return x.length - y.length }
  if (x === y) { return 0 }
  return x < y ? -1 : 1
}
