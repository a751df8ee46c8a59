import { JSON_OUTPUT } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CERT_INSPECT = {
  name: 'cert inspect',
  summary: 'print a certificate\'s fields (subject, serial, validity, node_id, PeerId, SANs, key usage)',
  positionals: [{ name: 'CERT.pem', help: 'a PEM file with one or more certificates' }],
  options: {
    json: JSON_OUTPUT('the fields')
  },
  examples: ['dadm-mesh cert inspect /var/lib/dadm/node/cert.pem', 'dadm-mesh cert inspect --json ca/root.pem']
} satisfies CommandSpec
