import { uPnPNAT } from '@libp2p/upnp-nat'
import { overriding, replacingComponent } from './component-proxy.ts'
import type { UpnpOptions } from './nat-options.ts'

/**
 * UPnP IGD port mapping (`@libp2p/upnp-nat`): a node behind a home or site router that speaks
 * UPnP (miniupnpd, most consumer routers) asks it to forward its listen ports, and advertises
 * the mapped public address once a member has dialled it back through AutoNAT.
 */

/** What the UPnP service needs of the node: a hook told of each mapping the gateway made. */
export interface UpnpHooks {
  /** Called after libp2p recorded a new mapped address (still unverified unless autoConfirm). */
  onMapping(mapping: UpnpMapping): void
}

/** A port the gateway forwards to us: its public side. */
export interface UpnpMapping { externalHost: string, externalPort: number, protocol: 'tcp' | 'udp' }

/**
 * libp2p's UPnP NAT service. Its address manager is wrapped so that each mapping it records
 * also calls `hooks().onMapping` (libp2p itself emits no event for a new mapping).
 */
export function memberUpnp (o: UpnpOptions, hooks: (components: any) => UpnpHooks): (components: any) => unknown {
  return (components) => {
    const addressManager = components.addressManager
    const wrapped = overriding(addressManager, {
      addPublicAddressMapping: (internalIp: string, internalPort: number, externalIp: string, externalPort: number = internalPort, protocol: 'tcp' | 'udp' = 'tcp') => {
        const result = addressManager.addPublicAddressMapping(internalIp, internalPort, externalIp, externalPort, protocol)
        hooks(components).onMapping({ externalHost: externalIp, externalPort, protocol })
        return result
      }
    })
    const withHook = replacingComponent(components, 'addressManager', wrapped)
    return uPnPNAT({
      autoConfirmAddress: o.autoConfirm,
      portMappingTTL: o.mappingTtlMs,
      portMappingDescription: `dadm-mesh ${String(components.peerId)}`,
      ...(o.gateways.length > 0 ? { gateways: o.gateways } : {})
    })(withHook)
  }
}
