import type { TransportName } from './types.ts'

/**
 * Names the transport family from a remote multiaddr string (`/ip4/../udp/../quic-v1/..`,
 * `/ip4/../tcp/..`). A relayed address names the relay's transport first, so the circuit is
 * checked first: `relay` is what the peer table and operators need to tell apart.
 */
export function transportOf (multiaddr: string): TransportName {
  if (multiaddr.includes('/p2p-circuit')) { return 'relay' }
  if (multiaddr.includes('/quic-v1')) { return 'quic' }
  if (multiaddr.includes('/tcp/')) { return 'tcp' }
  return 'other'
}
