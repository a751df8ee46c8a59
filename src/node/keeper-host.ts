import { KEEP_ALIVE } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { findMembers, provideMember } from './member-rendezvous.ts'
import type { BlockList } from './block-list.ts'
import type { KeeperHost } from './member-keeper.ts'
import type { PeerTable } from './peer-table.ts'
import type { Libp2p, Logger, PeerId, PeerInfo } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { CID } from 'multiformats/cid'

/** libp2p peer tags; the `keep-alive` prefix is what libp2p's pruner and reconnect queue look for. */
export const KEEP_ALIVE_TAGS = { bootstrap: `${KEEP_ALIVE}-dadm-bootstrap`, member: `${KEEP_ALIVE}-dadm-member` } as const

/** Above libp2p's own tags (bootstrap 50): the pruner closes these connections last. */
const TAG_VALUE = 100

/** Peers a DHT query may name, at most: a k-bucket's worth. */
const MAX_DHT_PEERS = 20

export interface KeeperHostParts {
  libp2p: Libp2p<{ dht?: KadDHT }>
  peers: PeerTable
  blockList: BlockList
  /** Dials and waits for mutual auth (MeshNode.dial). */
  dial(peer: PeerId, options: { signal: AbortSignal }): Promise<unknown>
  /** The key members provide and look up on the DHT (member-rendezvous.ts). */
  rendezvousKey: CID
  log: Logger
}

/** The mesh node as MemberKeeper sees it. */
export function keeperHost (parts: KeeperHostParts): KeeperHost {
  const { libp2p, peers, blockList, log } = parts
  const self = libp2p.peerId.toString()
  return {
    isStarted: () => libp2p.status === 'started',
    isConnected: (peerId) => libp2p.getConnections(peerIdFromString(peerId)).length > 0,
    authenticatedCount: () => peers.list().filter(r => r.status === 'authenticated').length,
    blockedUntil: (peerId) => blockList.isBlocked(peerId) ? blockList.get(peerId)?.until : undefined,
    dial: async (peerId, signal) => { await parts.dial(peerIdFromString(peerId), { signal }) },
    tag: async (peerId, kind, addrs) => {
      await libp2p.peerStore.merge(peerIdFromString(peerId), {
        ...(addrs != null ? { multiaddrs: addrs.map(a => multiaddr(a).decapsulateCode(421)) } : {}),
        tags: { [KEEP_ALIVE_TAGS[kind]]: { value: TAG_VALUE } }
      })
    },
    untag: async (peerId, kind) => {
      const id = peerIdFromString(peerId)
      if (await libp2p.peerStore.has(id)) { await libp2p.peerStore.merge(id, { tags: { [KEEP_ALIVE_TAGS[kind]]: undefined } }) }
    },
    candidates: async (limit) => {
      // Members that authenticated before, most recently seen first; then peers the peer store
      // learnt of (identify of members, DHT answers), which only ever come from authenticated peers.
      const known = peers.list()
        .filter(r => r.status === 'disconnected' && peers.isKnownGood(r.peerId))
        .sort((a, b) => b.lastSeen - a.lastSeen)
        .map(r => r.peerId)
      if (known.length >= limit) { return known.slice(0, limit) }
      const seen = new Set([...known, self])
      const stored = await libp2p.peerStore.all({
        filters: [(p) => !seen.has(p.id.toString()) && p.addresses.length > 0],
        limit: limit - known.length
      })
      return [...known, ...stored.map(p => p.id.toString())]
    },
    provide: async (signal) => provideMember(libp2p, parts.rendezvousKey, signal),
    rendezvous: async (signal) => (await findMembers(libp2p, parts.rendezvousKey, signal)).map(p => p.toString()),
    closestPeers: async (signal) => {
      const dht = libp2p.services.dht
      if (dht == null) { return [] }
      const found = new Map<string, PeerId>()
      for await (const event of dht.getClosestPeers(libp2p.peerId.toMultihash().bytes, { signal })) {
        let infos: PeerInfo[] = []
        if (event.name === 'FINAL_PEER') { infos = [event.peer] } else if (event.name === 'PEER_RESPONSE') { infos = event.closer }
        for (const info of infos) {
          const key = info.id.toString()
          if (key === self || found.has(key) || info.multiaddrs.length === 0) { continue }
          found.set(key, info.id)
          // Dialled by PeerId next: the peer store must hold where it is.
          await libp2p.peerStore.merge(info.id, { multiaddrs: info.multiaddrs })
        }
        if (found.size >= MAX_DHT_PEERS) { break }
      }
      return [...found.keys()]
    },
    log: (message, ...args) => { log(message, ...args) }
  }
}
