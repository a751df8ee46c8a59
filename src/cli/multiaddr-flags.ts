import { multiaddr } from '@multiformats/multiaddr'
import { UsageError } from './io.ts'

/**
 * Checks the multiaddrs given to a flag before anything opens (store, keys, sockets): a value
 * that is not a multiaddr is a usage error naming the flag and the value, instead of a libp2p
 * failure ("Value must be an integer") after the node has half started. With `peerId`, each must
 * end in /p2p/<PeerId> (bootstrap peers are dialled and authenticated by it).
 */
export function checkMultiaddrs (flag: string, values: string[], opts: { peerId?: boolean } = {}): string[] {
  for (const v of values) {
    let components: Array<{ name: string }>
    try {
      components = multiaddr(v).getComponents()
    } catch (err) {
      throw new UsageError(`${flag} ${JSON.stringify(v)} is not a multiaddr (${(err as Error).message}); e.g. /ip4/0.0.0.0/udp/4001/quic-v1`)
    }
    if (opts.peerId === true && !components.some(c => c.name === 'p2p')) {
      throw new UsageError(`${flag} ${JSON.stringify(v)} has no /p2p/<PeerId>; e.g. /ip4/203.0.113.7/udp/4001/quic-v1/p2p/12D3KooW...`)
    }
  }
  return values
}
