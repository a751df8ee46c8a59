import { NODE_RUN_OPTIONS } from './node-run.ts'
import type { CommandSpec } from './spec.ts'

export const NODE_START = {
  name: 'node start',
  summary: 'run the enrolled node (QUIC, TCP+TLS, mesh auth, DHT, mDNS, CRL poll, admin API)',
  description: 'Runs until SIGTERM or SIGINT and writes NODEDIR/run.json so that `node peers` and the other commands\nfind it. JSON logs go to stdout, the start line to stderr.',
  options: NODE_RUN_OPTIONS,
  examples: [
    'dadm-mesh node start --dir /var/lib/dadm/node --bootstrap /dns4/boot.example.net/udp/4001/quic-v1/p2p/12D3KooW...',
    'dadm-mesh node start --dir node --listen /ip4/0.0.0.0/udp/4001/quic-v1 --api 127.0.0.1:7443 --log-format pretty'
  ],
  exitCodes: { 3: 'this node\'s certificate is revoked (do not restart it: RestartPreventExitStatus=3)' }
} satisfies CommandSpec
