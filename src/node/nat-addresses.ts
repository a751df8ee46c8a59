import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The node's loopback addresses that a wildcard listen expanded, dropped from what it advertises.
 *
 * A listener on 0.0.0.0 (or ::) is advertised once per interface: 127.0.0.1 and the LAN address
 * share one port. Members on other hosts dial every address they hold, one after another, and a
 * loopback address on another host reaches nothing: a QUIC dial of it waits out its whole
 * timeout (10 s measured in the WAN lab) before the next address is tried, typically after a
 * link came back. A member on the same host reaches us through the LAN address of the same
 * listener. Loopback addresses of their own (listening on 127.0.0.1 only, as a test mesh does,
 * or on a port no other address shares) are kept.
 */
export function withoutExpandedLoopback (addrs: Multiaddr[]): Multiaddr[] {
  const key = (ma: Multiaddr): string | undefined => {
    const c = ma.getComponents()
    if (c.length < 2 || (c[0].name !== 'ip4' && c[0].name !== 'ip6') || c.some(x => x.name === 'p2p-circuit')) { return undefined }
    // family, transport and port: what one wildcard listener shares across interfaces
    return `${c[0].name}/${c.slice(1).map(x => `${x.name}/${x.value ?? ''}`).join('/')}`
  }
  const isLoopback = (ma: Multiaddr): boolean => {
    const first = ma.getComponents()[0]
    return (first?.name === 'ip4' && first.value?.startsWith('127.') === true) || (first?.name === 'ip6' && first.value === '::1')
  }
  const routable = new Set<string>()
  for (const ma of addrs) {
    const k = key(ma)
    if (k != null && !isLoopback(ma)) { routable.add(k) }
  }
  return addrs.filter(ma => {
    if (!isLoopback(ma)) { return true }
    const k = key(ma)
    return k == null || !routable.has(k)
  })
}
