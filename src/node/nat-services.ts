import { isLoopback } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { AutonatLedger, memberAutonat } from './autonat.ts'
import { memberDcutr } from './dcutr.ts'
import { reachabilityService } from './reachability.ts'
import { memberUpnp } from './upnp.ts'
import type { MeshNodeOptions } from './config.ts'

/**
 * The NAT services of a node, for libp2p's `services` map: the reachability signal (always),
 * AutoNAT v2 among members, DCUtR on relayed connections (only where the relay transport makes
 * them), and UPnP port mapping. Each new mapping makes the reachability service ask members
 * to check it (src/node/reachability.ts says why). UPnP stays off when the node listens on
 * loopback only: there is nothing a router could map, and no SSDP search should leave the host.
 */
export function natServices (options: MeshNodeOptions): Record<string, (components: any) => unknown> {
  const ledger = new AutonatLedger()
  const upnp = options.upnp.enabled && options.listen.some(a => !a.includes('/p2p-circuit') && !isLoopback(multiaddr(a)))
  const map: Record<string, (components: any) => unknown> = {
    reachability: reachabilityService({ ledger, autonat: options.autonat.enabled, upnp })
  }
  if (options.autonat.enabled) { map.autonat = memberAutonat(options.autonat, ledger) }
  if (options.dcutr.enabled && options.relay.enabled) { map.dcutr = memberDcutr(options.dcutr) }
  if (upnp) {
    map.upnp = memberUpnp(options.upnp, (components) => ({ onMapping: (mapping) => { components.reachability?.upnpMapped(mapping) } }))
  }
  return map
}
