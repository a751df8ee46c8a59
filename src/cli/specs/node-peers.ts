import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const NODE_PEERS = {
  name: 'node peers',
  summary: 'the running node\'s mesh peer table (from its admin API, as the node itself)',
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory of the running node' },
    json: JSON_OUTPUT('the rows'),
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh node peers --dir /var/lib/dadm/node', 'dadm-mesh node peers --dir node --json | jq \'.[] | select(.status == "authenticated")\'']
} satisfies CommandSpec
