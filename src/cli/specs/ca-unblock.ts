import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_UNBLOCK = {
  name: 'ca unblock',
  summary: 'lift the block `ca revoke --node-id` put on a node_id (its certificates stay revoked)',
  description: 'A node_id that is not blocked fails NODE_NOT_BLOCKED, so a typo does not pass for success.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    'node-id': { type: 'string', arg: 'ID', required: true, help: 'the blocked node_id' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT()
  },
  examples: ['dadm-mesh ca unblock --dir ca --node-id sensor-7']
} satisfies CommandSpec
