import type { AuthenticatedPeer, TransportName } from '../../protocols/auth/index.ts'
import type { PeerIdentity } from '../pki/peer-verifier.ts'

/**
 * The mesh peer table: peers that have authenticated at least once, keyed by PeerId. An
 * unauthenticated peer never enters it, so nothing an unproven peer claims is shown. The node feeds it from auth and connection
 * events; the admin API and the DHT address filter read it.
 */
export type PeerStatus = 'connected' | 'authenticated' | 'disconnected'

export interface PeerRecord {
  peerId: string
  nodeId: string
  status: PeerStatus
  transport: TransportName
  /** Clock time (ms) of the last authentication or connection event. */
  lastSeen: number
  certSerial: string
  /** ms since the epoch. */
  certNotAfter: number
  identity: PeerIdentity
  /** Result of the last attestation (attest protocol): true for a verified TPM quote, false for a failure or `none`. */
  attested: boolean | 'unknown'
  /** Clock time (ms) of the last attestation check. */
  attestedAt?: number
}

/** The row shape of `GET /v1/mesh/peers`. */
export interface PeerTableRow {
  node_id: string
  peer_id: string
  status: PeerStatus
  transport: TransportName
  last_seen: string
  cert_serial: string
  cert_not_after: string
  /** The roles in the peer's authenticated certificate, sorted (empty when none). */
  roles: string[]
  /** Attestation: true (TPM quote verified), false (failed, or `none`), or unknown (not checked yet). */
  attested: boolean | 'unknown'
  /** When attestation was last checked; null when never. */
  attested_at: string | null
}

interface Entry {
  identity: PeerIdentity
  transport: TransportName
  lastSeen: number
  open: Set<string>
  authenticated: Set<string>
  attested?: boolean
  attestedAt?: number
}

export class PeerTable {
  private readonly entries = new Map<string, Entry>()
  private readonly maxEntries: number
  private readonly now: () => number

  constructor (maxEntries: number, now: () => number) {
    this.maxEntries = maxEntries
    this.now = now
  }

  /** A connection passed auth: create or refresh the peer's entry. */
  authenticated (peer: AuthenticatedPeer): void {
    const entry = this.entries.get(peer.peerId) ?? { identity: peer, transport: peer.transport, lastSeen: 0, open: new Set(), authenticated: new Set() }
    entry.identity = pickIdentity(peer)
    entry.transport = peer.transport
    entry.lastSeen = this.now()
    entry.open.add(peer.connectionId)
    entry.authenticated.add(peer.connectionId)
    this.entries.delete(peer.peerId)
    this.entries.set(peer.peerId, entry)
    this.evict()
  }

  /** A connection to a known peer opened (its auth is still running). */
  connectionOpened (peerId: string, connectionId: string): void {
    const entry = this.entries.get(peerId)
    if (entry == null) { return }
    entry.open.add(connectionId)
    entry.lastSeen = this.now()
  }

  connectionClosed (peerId: string, connectionId: string): void {
    const entry = this.entries.get(peerId)
    if (entry == null) { return }
    entry.open.delete(connectionId)
    entry.authenticated.delete(connectionId)
    entry.lastSeen = this.now()
  }

  /** Records the outcome of an attestation check of a known peer. */
  setAttestation (peerId: string, attested: boolean, at: number): void {
    const entry = this.entries.get(peerId)
    if (entry == null) { return }
    entry.attested = attested
    entry.attestedAt = at
  }

  remove (peerId: string): boolean {
    return this.entries.delete(peerId)
  }

  has (peerId: string): boolean {
    return this.entries.has(peerId)
  }

  /** True when the peer has at least one open, authenticated connection. */
  isAuthenticated (peerId: string): boolean {
    return (this.entries.get(peerId)?.authenticated.size ?? 0) > 0
  }

  /**
   * True when the peer authenticated before and its certificate is still inside its validity
   * window: such a peer may be named to others (DHT closer peers) even while disconnected.
   */
  isKnownGood (peerId: string): boolean {
    const entry = this.entries.get(peerId)
    return entry != null && this.now() <= entry.identity.notAfter
  }

  get (peerId: string): PeerRecord | undefined {
    const entry = this.entries.get(peerId)
    return entry == null ? undefined : toRecord(peerId, entry)
  }

  list (): PeerRecord[] {
    return [...this.entries].map(([peerId, entry]) => toRecord(peerId, entry))
  }

  /** The table as the admin API shows it. */
  rows (): PeerTableRow[] {
    return this.list().map(r => ({
      node_id: r.nodeId,
      peer_id: r.peerId,
      status: r.status,
      transport: r.transport,
      last_seen: new Date(r.lastSeen).toISOString(),
      cert_serial: r.certSerial,
      cert_not_after: new Date(r.certNotAfter).toISOString(),
      roles: r.identity.roles ?? [],
      attested: r.attested,
      attested_at: r.attestedAt != null ? new Date(r.attestedAt).toISOString() : null
    }))
  }

  get size (): number {
    return this.entries.size
  }

  /** Drops the longest-unseen disconnected peers beyond `maxEntries` (bounded by the overflow). */
  private evict (): void {
    let overflow = this.entries.size - this.maxEntries
    if (overflow <= 0) { return }
    const idle = [...this.entries].filter(([, e]) => e.open.size === 0).sort((a, b) => a[1].lastSeen - b[1].lastSeen)
    for (const [peerId] of idle) {
      if (overflow-- <= 0) { break }
      this.entries.delete(peerId)
    }
  }
}

function pickIdentity (p: PeerIdentity): PeerIdentity {
  return { nodeId: p.nodeId, peerId: p.peerId, serialHex: p.serialHex, notBefore: p.notBefore, notAfter: p.notAfter, spki: p.spki, fingerprint: p.fingerprint, issuerFingerprint: p.issuerFingerprint, ...(p.roles != null ? { roles: p.roles } : {}) }
}

function toRecord (peerId: string, e: Entry): PeerRecord {
  const status: PeerStatus = e.authenticated.size > 0 ? 'authenticated' : e.open.size > 0 ? 'connected' : 'disconnected'
  return {
    peerId,
    nodeId: e.identity.nodeId,
    status,
    transport: e.transport,
    lastSeen: e.lastSeen,
    certSerial: e.identity.serialHex,
    certNotAfter: e.identity.notAfter,
    identity: e.identity,
    attested: e.attested ?? 'unknown',
    ...(e.attestedAt != null ? { attestedAt: e.attestedAt } : {})
  }
}
