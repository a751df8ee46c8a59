import { dcutr } from '@libp2p/dcutr'
import { withGuardedRegistrar } from './dht-mode.ts'
import type { DcutrOptions } from './nat-options.ts'
import type { StreamHandler } from '@libp2p/interface'

/**
 * DCUtR (`@libp2p/dcutr`): when a member reaches us through a member relay, try to replace the
 * relayed connection by a direct one, and close the relayed one if that works.
 *
 * What it can do in js-libp2p 3.3 on Node 22 (README "Running across a WAN" has the references).
 * The unilateral upgrade works: when the other member advertises a verified public address
 * (announced, AutoNAT-confirmed, a confirmed UPnP mapping), the inbound side dials it directly.
 * The hole punch itself does not: DCUtR sends only verified addresses, which a member behind a
 * cone or symmetric NAT does not have; QUIC (`@chainsafe/libp2p-quic`) dials from a socket apart
 * from its listener's, and TCP dials from a fresh port (Node has no SO_REUSEPORT on outgoing
 * sockets), so a punch would leave from a port the other side was not told of. Such pairs stay
 * on their member relay.
 */

/** libp2p's DCUtR, its handler guarded by mesh auth from registration on (a relayed connection authenticates end to end first). */
export function memberDcutr (o: DcutrOptions): (components: any) => unknown {
  return (components) => dcutr({
    timeout: o.timeoutMs,
    retries: o.retries
  })(withGuardedRegistrar(components, () => components.auth as { guard(handler: StreamHandler): StreamHandler }))
}
