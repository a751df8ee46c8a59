import { JSON_OUTPUT } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const NODE_STATUS = {
  name: 'node status',
  summary: 'whether the node runs, is revoked (with CRL number and reason), its certificate and CRL',
  description: 'Reads NODEDIR only (node.json, run.json, revoked.json, crl.json): no passphrase, and it works while the\nnode runs, after it stopped, and after a CRL revoked it (when its own admin API refuses it).',
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory' },
    json: JSON_OUTPUT('the status')
  },
  examples: ['dadm-mesh node status --dir /var/lib/dadm/node', 'dadm-mesh node status --dir node --json | jq -r .state'],
  exitCodes: { 3: 'the node\'s certificate is revoked' }
} satisfies CommandSpec
