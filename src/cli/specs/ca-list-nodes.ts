import { JSON_OUTPUT } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_LIST_NODES = {
  name: 'ca list-nodes',
  summary: 'list every node_id the CA knows: active, revoked, blocked or expired, with its newest certificate',
  description: 'Reads the CA store only: no passphrase. While `ca serve` runs for DIR the listing comes from it over\nDIR/admin.sock.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    json: JSON_OUTPUT('the listing')
  },
  examples: ['dadm-mesh ca list-nodes --dir ca', 'dadm-mesh ca list-nodes --dir ca --json']
} satisfies CommandSpec
