import type { Logger, PeerId, PeerInfo } from '@libp2p/interface'

/**
 * Keeps unauthenticated peers out of our kad-dht, with what kad-dht 16 offers:
 *
 * 1. `peerInfoMapper` runs on every peer before it may enter the routing table (peers that
 * connect and peers named in query responses) and on every peer we name in our answers. Ours
 * empties the address list of any peer that has not authenticated, and kad-dht skips peers
 * without addresses: they never enter the table and are never handed to others.
 * 2. Inbound DHT RPCs (PUT_VALUE, ADD_PROVIDER, FIND_NODE, ...) are refused outright for
 * unauthenticated peers by the auth guard wrapped around the kad protocol handler.
 * 3. Identify runs only after auth, so kad-dht's topology (which adds peers on identify) never
 * hears of an unauthenticated peer in the first place.
 * 4. Value records: kad-dht accepts only keys with a validator; the only default one, /pk/, is
 * self-certifying. A mesh namespace must come with a validator that checks a mesh signature.
 */
export function authenticatedOnlyMapper (admit: (peerId: string) => boolean, self: PeerId): (peer: PeerInfo) => PeerInfo {
  return (peer) => peer.id.equals(self) || admit(peer.id.toString()) ? peer : { ...peer, multiaddrs: [] }
}

/**
 * The routing-table operations we use. kad-dht's exported `RoutingTable` type only declares
 * `size`; its implementation has `remove` and dispatches `peer:add`. We use them only if present.
 */
interface RoutingTableOps {
  remove?(peer: PeerId): Promise<void>
  addEventListener?(type: 'peer:add', listener: (evt: CustomEvent<PeerId>) => void): void
  removeEventListener?(type: 'peer:add', listener: (evt: CustomEvent<PeerId>) => void): void
}

/** Removes revoked peers from the table and sweeps out any non-admitted peer that gets in anyway. */
export class RoutingTableGuard {
  private readonly table: RoutingTableOps | undefined
  private readonly admit: (peerId: string) => boolean
  private readonly log: Logger
  private readonly onAdd = (evt: CustomEvent<PeerId>): void => {
    if (!this.admit(evt.detail.toString())) {
      this.log.error('unauthenticated peer %p entered the routing table; removing it', evt.detail)
      void this.remove(evt.detail)
    }
  }

  constructor (dht: unknown, admit: (peerId: string) => boolean, log: Logger) {
    this.table = (dht as { routingTable?: RoutingTableOps } | undefined)?.routingTable
    this.admit = admit
    this.log = log
  }

  start (): void {
    this.table?.addEventListener?.('peer:add', this.onAdd)
  }

  stop (): void {
    this.table?.removeEventListener?.('peer:add', this.onAdd)
  }

  async remove (peer: PeerId): Promise<void> {
    try {
      await this.table?.remove?.(peer)
    } catch (err) {
      this.log.error('could not remove %p from the routing table - %e', peer, err)
    }
  }
}
