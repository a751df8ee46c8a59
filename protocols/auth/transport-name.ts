import type { TransportName } from './types.ts'

/** Names the transport family from a remote multiaddr string (`/ip4/../udp/../quic-v1/..`, `/ip4/../tcp/..`). */
export function transportOf (multiaddr: string): TransportName {
  if (multiaddr.includes('/quic-v1')) { return 'quic' }
  if (multiaddr.includes('/tcp/')) { return 'tcp' }
  return 'other'
}
