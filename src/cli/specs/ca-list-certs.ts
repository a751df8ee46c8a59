import { JSON_OUTPUT } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_LIST_CERTS = {
  name: 'ca list-certs',
  summary: 'list the certificates the CA issued and what became of each (valid, expired, revoked, superseded)',
  description: 'Reads the CA store only: no passphrase. While `ca serve` runs for DIR the listing comes from it over\nDIR/admin.sock. At most 20000 rows (the newest); the output says when it stopped short.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    'node-id': { type: 'string', arg: 'ID', help: 'only the certificates of this node_id', shownDefault: 'every certificate' },
    json: JSON_OUTPUT('the listing')
  },
  examples: ['dadm-mesh ca list-certs --dir ca', 'dadm-mesh ca list-certs --dir ca --node-id sensor-7 --json']
} satisfies CommandSpec
