import { overriding } from './component-proxy.ts'
import type { CircuitRelayTransportComponents } from '@libp2p/circuit-relay-v2'
import type { Multiaddr } from '@multiformats/multiaddr'

type AddressManager = CircuitRelayTransportComponents['addressManager']

/** The address families libp2p's address manager can judge (it maps DNS names to IPs). */
const JUDGED = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr'])

/** True when a multiaddr starts with an IP or DNS component. */
export function isIpOrDnsAddr (ma: Multiaddr): boolean {
  const first = ma.getComponents()[0]
  return first != null && JUDGED.has(first.name)
}

/**
 * The address manager as the relay transport sees it. The addresses in a reservation are the
 * relay's to choose, and the transport passes each, with /p2p-circuit, to `confirmObservedAddr`
 * and `removeObservedAddr` from inside an event listener; the address manager throws on anything
 * but an IP or DNS address (a /memory or /unix one), and a throw there ends the process. So a
 * member relay could stop every node holding a slot on it. Other addresses are not ours to
 * advertise anyway: only IP and DNS relay addresses reach the address manager.
 */
export function relaySafeAddressManager (am: AddressManager): AddressManager {
  const onlyIpOrDns = (prop: 'confirmObservedAddr' | 'removeObservedAddr') => {
    const method = am[prop].bind(am) as (ma: Multiaddr, ...rest: unknown[]) => void
    return (ma: Multiaddr, ...rest: unknown[]): void => {
      if (isIpOrDnsAddr(ma)) { method(ma, ...rest) }
    }
  }
  return overriding(am, { confirmObservedAddr: onlyIpOrDns('confirmObservedAddr'), removeObservedAddr: onlyIpOrDns('removeObservedAddr') })
}
