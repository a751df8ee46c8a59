import { LOG_FORMAT, LOG_LEVEL, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_SERVE = {
  name: 'ca serve',
  summary: 'run the enrollment / CA HTTPS service (and the operator socket DIR/admin.sock)',
  description: 'Holds the CA store while it runs; `ca token`, `ca revoke` and the other operator commands reach it\nover DIR/admin.sock. Its TLS certificate is issued by the mesh CA at start for localhost, 127.0.0.1,\n::1, the --listen host, this machine\'s hostname and every --server-name; name the address nodes\nenroll by (a public IP or DNS name) with --server-name. JSON logs go to stdout; SIGTERM or SIGINT\nstops it gracefully.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    listen: { type: 'string', arg: 'HOST:PORT', required: true, help: 'where to listen, e.g. 0.0.0.0:8443 or [::1]:8443 (port 0 picks one)' },
    'server-name': { type: 'string', multiple: true, default: [], arg: 'NAME', help: 'another DNS name or IP address for the service certificate' },
    'crl-url': { type: 'string', arg: 'URL', help: 'the CRL URL written into certificates', shownDefault: 'ca.json\'s, else this service\'s /v1/crl' },
    'mesh-dir': { type: 'string', arg: 'NODEDIR', help: 'directory of the CA\'s own mesh node, which pushes revocations and notices at once (enrolled from this CA on first use)', shownDefault: 'DIR/mesh-node' },
    'no-mesh': { type: 'boolean', default: false, help: 'run without the CA\'s mesh node: nodes then learn revocations only at their CRL poll (60s) and notices at their notice poll (5m)' },
    'mesh-listen': { type: 'string', multiple: true, default: [], arg: 'MULTIADDR', help: 'listen address of the CA\'s mesh node' },
    'mesh-bootstrap': { type: 'string', multiple: true, default: [], arg: 'MULTIADDR', help: 'bootstrap peer of the CA\'s mesh node, with /p2p/' },
    'mesh-node-id': { type: 'string', arg: 'ID', help: 'node_id of the CA\'s mesh node', shownDefault: 'ca-mesh' },
    metrics: { type: 'string', arg: 'HOST:PORT', help: 'serve Prometheus /metrics, /livez and /readyz on this plain-HTTP address (CA metrics, and the CA mesh node\'s)', shownDefault: 'off' },
    'log-level': LOG_LEVEL,
    'log-format': LOG_FORMAT,
    'passphrase-file': PASSPHRASE_FILE,
    json: { type: 'boolean', default: false, help: 'write the start line (URL, admin socket, certificate names, mesh node) as one JSON object on stderr' }
  },
  examples: [
    'dadm-mesh ca serve --dir /var/lib/dadm/ca --listen 0.0.0.0:8443 --server-name ca.example.net --server-name 203.0.113.7',
    'dadm-mesh ca serve --dir ca --listen 127.0.0.1:8443 --mesh-dir ca-node --mesh-listen /ip4/0.0.0.0/udp/4001/quic-v1'
  ]
} satisfies CommandSpec
