import type { Connection, ConnectionGater, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Who may use a member relay: the relay-related hooks of the connection gater, which libp2p's
 * circuit relay v2 consults with PeerIds only.
 *
 * A reservation (relay side) needs the requester to hold an authenticated session with the relay
 * on a direct connection, the one the request came over. A relayed connection (relay side) needs
 * that of both the dialling and the reserved side. An incoming relayed connection (reserved side)
 * needs the relay that brings it to be a member we authenticated directly; the far end then
 * authenticates end to end over the circuit, as on any connection (mesh auth inside TLS 1.3,
 * which the relay only forwards).
 *
 * The hop and stop streams also wait for auth (the connection holds every stream until its auth
 * verdict, and every handler is guarded): a stranger's request never reaches the relay code.
 * This gate is the independent check behind them, and the one that also holds an authenticated
 * member to its standing: a session over a relayed connection does not count, nor one with a peer
 * that is blocked (revoked, backed off) or demoted by attestation.
 */

/** What the gate asks of the node: a member's standing on its direct links. */
export interface RelayMembership {
  /** True when `peer` holds a live authenticated session on a direct connection with us, unblocked and not demoted. */
  isDirectMember(peer: PeerId): boolean
}

/** Refusals so far, by hook: the figures tests, logs and metrics read. */
export interface RelayRefusals {
  /** Reservations refused (relay side). */
  reservation: number
  /** Relayed connections refused (relay side). */
  connect: number
  /** Incoming relayed connections refused because the relay is no direct member (reserved side). */
  inbound: number
}

export type RelayGaterHooks = Required<Pick<ConnectionGater, 'denyInboundRelayReservation' | 'denyOutboundRelayedConnection' | 'denyInboundRelayedConnection'>>

/**
 * The gate, bound to the node once it exists (the gater is built before libp2p, the sessions it
 * reads after). Unbound it refuses everything: no relaying before the node can tell members apart.
 */
export class RelayAdmission {
  private membership?: RelayMembership
  readonly refused: RelayRefusals = { reservation: 0, connect: 0, inbound: 0 }

  bind (membership: RelayMembership): void {
    this.membership = membership
  }

  private member (peer: PeerId): boolean {
    return this.membership?.isDirectMember(peer) === true
  }

  hooks (): RelayGaterHooks {
    return {
      denyInboundRelayReservation: (source: PeerId) => {
        if (this.member(source)) { return false }
        this.refused.reservation++
        return true
      },
      denyOutboundRelayedConnection: (source: PeerId, target: PeerId) => {
        if (this.member(source) && this.member(target)) { return false }
        this.refused.connect++
        return true
      },
      denyInboundRelayedConnection: (relay: PeerId, _remote: PeerId) => {
        if (this.member(relay)) { return false }
        this.refused.inbound++
        return true
      }
    }
  }
}

/** True for an address that goes through a relay (`.../p2p-circuit/...`). */
export function isRelayedAddr (addr: Multiaddr): boolean {
  return addr.getComponents().some(c => c.name === 'p2p-circuit')
}

/** True for a connection that goes through a relay: libp2p marks it limited when the relay set limits, and its address says so always. */
export function isRelayedConnection (connection: Pick<Connection, 'remoteAddr' | 'limits'>): boolean {
  return connection.limits != null || isRelayedAddr(connection.remoteAddr)
}

/** What `directMembership` reads from the node. */
export interface MembershipSources {
  authenticatedConnections(): Array<{ connection: Pick<Connection, 'remotePeer' | 'remoteAddr' | 'limits' | 'status'> }>
  isBlocked(peerId: string): boolean
  isDemoted(peerId: string): boolean
}

/** The node's membership view for the gate: sessions from the auth service, the block list, attestation. */
export function directMembership (sources: MembershipSources): RelayMembership {
  return {
    isDirectMember (peer: PeerId): boolean {
      const key = peer.toString()
      if (sources.isBlocked(key) || sources.isDemoted(key)) { return false }
      return sources.authenticatedConnections().some(({ connection }) =>
        connection.status === 'open' && connection.remotePeer.equals(peer) && !isRelayedConnection(connection))
    }
  }
}
