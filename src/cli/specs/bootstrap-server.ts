import { NODE_RUN_OPTIONS } from './node-run.ts'
import type { CommandSpec } from './spec.ts'

export const BOOTSTRAP_SERVER = {
  name: 'bootstrap-server',
  summary: 'run an enrolled node as a WAN bootstrap server (DHT server mode, raised inbound limits, no mDNS)',
  description: 'It is still an enrolled member: unauthenticated peers get no DHT answer and no routing-table entry.',
  options: NODE_RUN_OPTIONS,
  examples: ['dadm-mesh bootstrap-server --dir /var/lib/dadm/boot --listen /ip4/0.0.0.0/udp/4001/quic-v1 --listen /ip4/0.0.0.0/tcp/4001'],
  exitCodes: { 3: 'this node\'s certificate is revoked (do not restart it: RestartPreventExitStatus=3)' }
} satisfies CommandSpec
