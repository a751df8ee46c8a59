import { isRelayedAddr } from './relay-gate.ts'
import type { MeshNode } from './mesh-node.ts'
import type { RelayRefusals } from './relay-gate.ts'
import type { MemberRelayServer } from './relay-services.ts'

/** The relay side of a node at one moment: what `node status`, metrics and tests read. */
export interface RelayStatus {
  /** This node serves circuit relay v2 now. */
  serving: boolean
  /** Members holding a reservation on this node now. */
  reservationsGranted: number
  /** Bytes this node carried as a relay so far, both directions together. */
  relayedBytes: number
  /** Member relays this node holds a reservation on now (their PeerIds), from its relayed addresses. */
  relays: string[]
  /** The relayed addresses this node advertises. */
  relayedAddrs: string[]
  /** Requests refused by the member-only gate so far. */
  refused: RelayRefusals
}

/** Reads the relay state of `node` (all zero and empty when relaying is off). */
export function relayStatus (node: MeshNode): RelayStatus {
  const server = (node.libp2p.services as { relay?: MemberRelayServer }).relay
  const bytes = server?.relayedBytes()
  const relayedAddrs = node.getMultiaddrs().filter(isRelayedAddr).map(ma => ma.toString())
  const relays = new Set<string>()
  for (const addr of relayedAddrs) {
    // /<relay transport address>/p2p/<relay>/p2p-circuit/p2p/<us>: the PeerId before the circuit.
    const relay = /\/p2p\/([^/]+)\/p2p-circuit/.exec(addr)?.[1]
    if (relay != null) { relays.add(relay) }
  }
  return {
    serving: server?.serving ?? false,
    reservationsGranted: server?.reservationCount() ?? 0,
    relayedBytes: bytes == null ? 0 : bytes.fromDialers + bytes.toDialers,
    relays: [...relays],
    relayedAddrs,
    refused: { ...(node.relayAdmission?.refused ?? { reservation: 0, connect: 0, inbound: 0 }) }
  }
}
