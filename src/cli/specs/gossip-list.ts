import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const GOSSIP_LIST = {
  name: 'gossip list',
  summary: 'the anomaly signatures the running node holds, latest expiry first',
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory of the running node' },
    json: JSON_OUTPUT('the rows'),
    limit: { type: 'string', arg: 'N', help: 'at most N rows (1-1000)', shownDefault: 'the node\'s page size' },
    origin: { type: 'string', arg: 'NODE_ID', help: 'only those published by this node_id' },
    type: { type: 'string', arg: 'T', help: 'only this signature type' },
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh gossip list --dir node', 'dadm-mesh gossip list --dir node --type ip --limit 20 --json']
} satisfies CommandSpec
