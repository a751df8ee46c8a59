import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

/**
 * A DHT rendezvous for members.
 *
 * kad-dht servers keep only servers in their routing tables, so a member in DHT client mode
 * (behind a NAT) is never named by a closest-peers query: two such members would never learn of
 * each other. Every member therefore provides one fixed key, and the keeper looks its providers
 * up. A DHT server answers a provider query with each provider's addresses from its own peer
 * store (relayed /p2p-circuit addresses included, learnt from the provider record and identify),
 * passed through the authenticated-only mapper: only members are named, and only members can ask,
 * because the DHT handlers are registered behind mesh auth.
 */

/** Providers one lookup takes at most: kad-dht's own answer size (k). */
export const MAX_RENDEZVOUS_PROVIDERS = 20

/**
 * The key every member provides. Derived from the mesh's own DHT protocol id, so meshes with
 * different DHT protocols never meet on one key, and it is stable across restarts and versions.
 */
export async function memberRendezvousKey (dhtProtocol: string): Promise<CID> {
  const digest = await sha256.digest(new TextEncoder().encode(`${dhtProtocol}/members`))
  return CID.createV1(raw.code, digest)
}

type DhtLibp2p = Libp2p<{ dht?: KadDHT }>

/**
 * Publishes our provider record for the key to the DHT servers closest to it.
 *
 * @returns how many servers stored it (0 without a DHT or with no server reached)
 */
export async function provideMember (libp2p: DhtLibp2p, key: CID, signal: AbortSignal): Promise<number> {
  const dht = libp2p.services.dht
  if (dht == null) { return 0 }
  let stored = 0
  for await (const event of dht.provide(key, { signal })) {
    if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') { stored++ }
  }
  return stored
}

/**
 * Looks the key's providers up and merges their addresses into the peer store (the keeper dials
 * by PeerId next). At most MAX_RENDEZVOUS_PROVIDERS, never ourselves, never one without addresses.
 */
export async function findMembers (libp2p: DhtLibp2p, key: CID, signal: AbortSignal): Promise<PeerId[]> {
  const dht = libp2p.services.dht
  if (dht == null) { return [] }
  const found = new Map<string, PeerId>()
  for await (const event of dht.findProviders(key, { signal })) {
    if (event.name !== 'PROVIDER') { continue }
    for (const info of event.providers) {
      const id = info.id.toString()
      if (info.id.equals(libp2p.peerId) || found.has(id) || info.multiaddrs.length === 0) { continue }
      found.set(id, info.id)
      await libp2p.peerStore.merge(info.id, { multiaddrs: info.multiaddrs })
      if (found.size >= MAX_RENDEZVOUS_PROVIDERS) { return [...found.values()] }
    }
  }
  return [...found.values()]
}
