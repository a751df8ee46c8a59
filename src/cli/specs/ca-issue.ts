import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_ISSUE = {
  name: 'ca issue',
  summary: 'issue a certificate from a PEM CSR and print it (PEM) on stdout',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    csr: { type: 'string', arg: 'FILE', required: true, help: 'the certificate request (PEM)' },
    'node-id': { type: 'string', arg: 'ID', help: 'the node_id to certify', shownDefault: 'the CSR\'s' },
    validity: { type: 'string', arg: 'DURATION', help: 'lifetime, e.g. 12h or 7d', shownDefault: 'ca.json\'s (24h)' },
    profile: { type: 'string', default: 'node', arg: 'P', help: 'node, admin or server' },
    dns: { type: 'string', multiple: true, arg: 'NAME', help: 'DNS name for a server certificate' },
    ip: { type: 'string', multiple: true, arg: 'ADDR', help: 'IP address for a server certificate' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT('the certificate (PEM) with its serial, subject and expiry')
  },
  examples: ['dadm-mesh ca issue --dir ca --csr sensor-7.csr > sensor-7.pem', 'dadm-mesh ca issue --dir ca --csr web.csr --profile server --dns ca.example.net --ip 10.0.0.5']
} satisfies CommandSpec
