import { RPC } from '@libp2p/gossipsub/message'
import * as lp from 'it-length-prefixed'
import type { Libp2p, Stream } from '@libp2p/interface'

/** gossipsub 1.2, the version @libp2p/gossipsub 17 speaks first. */
const MESHSUB = '/meshsub/1.2.0'

/** The flooder's own RPC streams, one per peer, reused across calls. */
const streams = new WeakMap<Libp2p, Map<string, Stream>>()

/**
 * A hostile member's duplicate flood: sends a copy of `data` (gossipsub's own publish path would
 * refuse it as a duplicate) straight to every connected peer on a gossipsub stream of its own.
 * The mesh runs StrictNoSign, so a copy is topic + data, byte for byte the original. An honest
 * node never does this; the receivers' duplicate handling and scoring are what the scenario
 * measures. Resolves the copies sent.
 */
export async function sendDuplicates (libp2p: Libp2p, topic: string, data: Uint8Array): Promise<number> {
  const msg: RPC.Message = { data, topic }
  const frame = lp.encode.single(RPC.encode({ subscriptions: [], messages: [msg] })).subarray()
  let map = streams.get(libp2p)
  if (map == null) { map = new Map(); streams.set(libp2p, map) }
  let sent = 0
  for (const conn of libp2p.getConnections()) {
    const peer = conn.remotePeer.toString()
    try {
      let s = map.get(peer)
      if (s == null || s.status !== 'open') {
        s = await conn.newStream(MESHSUB, { signal: AbortSignal.timeout(2000) })
        map.set(peer, s)
      }
      s.send(frame)
      sent++
    } catch {
      map.delete(peer)
    }
  }
  return sent
}
