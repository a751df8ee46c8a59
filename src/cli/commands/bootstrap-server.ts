import { runNode } from './node-run.ts'
import type { MeshNodeConfig } from '../../node/config.ts'
import type { CliIo } from '../io.ts'

/**
 * What makes a node a WAN bootstrap server: it answers DHT queries (server mode), it does not
 * dial what it hears of (members come to it), mDNS is off (it serves a WAN), and its inbound
 * limits are raised so that a fleet starting at once is not turned away. It is still an
 * enrolled member: unauthenticated peers get no DHT answer and no routing-table entry.
 */
export const BOOTSTRAP_SERVER_PROFILE: MeshNodeConfig = {
  dht: { enabled: true, mode: 'server' },
  discovery: { dialDiscovered: false },
  // Members come to it: it redials its bootstrap peers (other servers) only, and dials nobody for a count.
  keepAlive: { targetMembers: 0, maxMembers: 0 },
  mdns: { enabled: false },
  // Public by role: it relays for members (server `auto` serves once its public address is
  // announced or confirmed) and needs no relay slot of its own.
  relay: { reservations: 0 },
  connectionManager: {
    // Ten times a member's: every node of a large site may hold a link to it at once.
    maxConnections: 3000,
    // A fleet restart: hundreds of upgrades at once; each is bounded by the 5 s upgrade timeout.
    maxIncomingPendingConnections: 512,
    // Sites behind one NAT address call in together; a single host's flood is still capped.
    inboundConnectionThreshold: 500
  },
  auth: {
    preauth: {
      // The upgrade cap above: during a fleet restart every waiting connection may be a member.
      maxPending: 512,
      // A site behind one NAT address restarts together; a single host's flood stays capped below the global cap.
      maxPendingPerSource: 128
    }
  }
}

/** `bootstrap-server`: a DHT server-mode mesh member for WAN bootstrap. */
export async function bootstrapServer (args: string[], io: CliIo): Promise<number> {
  return runNode('bootstrap-server', args, io, BOOTSTRAP_SERVER_PROFILE)
}
