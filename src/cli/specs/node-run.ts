import { LOG_FORMAT, LOG_LEVEL, PASSPHRASE_FILE } from './spec.ts'
import type { OptionSpec } from './spec.ts'

/**
 * The options `node start` and `bootstrap-server` share: both run an enrolled node until SIGTERM
 * or SIGINT. Absent options leave node.json and the defaults in force.
 */
export const NODE_RUN_OPTIONS = {
  dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the enrolled node directory' },
  listen: { type: 'string', multiple: true, default: [], arg: 'MULTIADDR', help: 'listen address', shownDefault: 'node.json\'s, else QUIC and TCP on 0.0.0.0 with ports picked at the first start and kept in node.json' },
  announce: { type: 'string', multiple: true, default: [], arg: 'MULTIADDR', help: 'address to advertise besides the listen addresses, counted as verified: a public IP or port forward, without /p2p/ (repeatable)', shownDefault: 'node.json\'s, else none' },
  'dht-mode': { type: 'string', arg: 'MODE', help: 'DHT role: auto (server only when reachable: a verified public or announced address, or a LAN-only mesh), server, or client', shownDefault: 'node.json\'s, else auto (bootstrap-server: server)' },
  bootstrap: { type: 'string', multiple: true, default: [], arg: 'MULTIADDR', help: 'bootstrap peer with its /p2p/ PeerId' },
  'bootstrap-file': { type: 'string', arg: 'F', help: 'file of bootstrap multiaddrs, one a line (# comments)' },
  api: { type: 'string', arg: 'HOST:PORT', help: 'admin API listener (mutual TLS)', shownDefault: '127.0.0.1:0' },
  'no-api': { type: 'boolean', default: false, help: 'run without the admin API (node peers, gossip and bundle commands then cannot reach it)' },
  'no-quic': { type: 'boolean', default: false, help: 'no QUIC transport' },
  'no-tcp': { type: 'boolean', default: false, help: 'no TCP+TLS transport' },
  'no-mdns': { type: 'boolean', default: false, help: 'no mDNS discovery on the local link' },
  'no-upnp': { type: 'boolean', default: false, help: 'do not ask the local router (UPnP IGD) to forward the listen ports', shownDefault: 'UPnP on for node start, off for bootstrap-server' },
  'upnp-gateway': { type: 'string', multiple: true, default: [], arg: 'URL', help: 'UPnP gateway descriptor URL (http://ROUTER:PORT/rootDesc.xml) instead of an SSDP search; turns UPnP on (repeatable)', shownDefault: 'SSDP search' },
  'crl-interval': { type: 'string', arg: 'DURATION', help: 'how often the CRL is fetched from the CA', shownDefault: '60s' },
  'circuit-relay': { type: 'string', arg: 'MODE', help: 'serve circuit relay v2 to authenticated members: auto (while the node has a public or announced address), on or off', shownDefault: 'node.json\'s, else auto' },
  'circuit-relay-slots': { type: 'string', arg: 'N', help: 'relay reservations to keep, each on a different member relay, so members reach this node behind NAT (0: none)', shownDefault: 'node.json\'s, else 2 (bootstrap-server: 0)' },
  relay: { type: 'boolean', default: false, help: 'act as a DTN relay: peers prefer it when spraying bundles' },
  'relay-peer': { type: 'string', multiple: true, default: [], arg: 'NODE_ID', help: 'a peer to prefer as DTN relay' },
  'bundle-quota': { type: 'string', arg: 'BYTES', help: 'bundle store size', shownDefault: 'node.json\'s, else 268435456 (256 MiB)' },
  'bundle-max-lifetime': { type: 'string', arg: 'DURATION', help: 'longest a received bundle is kept (1s to 30d)', shownDefault: 'node.json\'s, else 7d' },
  carry: { type: 'string', arg: 'POLICY', help: 'when anomaly signatures and CRLs also travel as bundles: missing, always or off', shownDefault: 'node.json\'s, else missing' },
  'notice-interval': { type: 'string', arg: 'DURATION', help: 'how often the node asks the CA for notices (rotate-now, trust bundles) besides the mesh push', shownDefault: '5m' },
  'on-revoked': { type: 'string', arg: 'ACTION', help: 'when a CRL revokes this node: exit (code 3) or isolate (stay up, cut off)', shownDefault: 'node.json\'s, else exit' },
  metrics: { type: 'string', arg: 'HOST:PORT', help: 'serve Prometheus /metrics, /livez and /readyz on this plain-HTTP address (e.g. 127.0.0.1:9464)', shownDefault: 'off' },
  'ready-min-peers': { type: 'string', arg: 'N', help: 'authenticated members /readyz needs besides a valid certificate and fresh CRLs (0: none)', shownDefault: '1 (bootstrap-server: 0)' },
  'log-level': LOG_LEVEL,
  'log-format': LOG_FORMAT,
  'passphrase-file': PASSPHRASE_FILE,
  json: { type: 'boolean', default: false, help: 'write the start line (node_id, PeerId, addresses, API URL) as one JSON object on stderr' }
} satisfies Record<string, OptionSpec>
