import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const BUNDLE_LIST = {
  name: 'bundle list',
  summary: 'what the running node holds: its inbox, bundles it forwards, reassemblies',
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory of the running node' },
    json: JSON_OUTPUT('the listing'),
    limit: { type: 'string', arg: 'N', help: 'at most N rows per table (1-1000)', shownDefault: 'the node\'s page size' },
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh bundle list --dir node', 'dadm-mesh bundle list --dir node --json --limit 50']
} satisfies CommandSpec
