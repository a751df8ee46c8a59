import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const BUNDLE_SEND = {
  name: 'bundle send',
  summary: 'have the running node send a bundle as itself; prints its bundle_id once stored',
  description: 'Give exactly one of --file and --data. The node delivers it directly, through relays, or when the\ndestination appears.',
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory of the running node' },
    to: { type: 'string', arg: 'NODE_ID', required: true, help: 'the destination node_id, or broadcast' },
    ttl: { type: 'string', arg: 'DURATION', required: true, help: 'lifetime, e.g. 3600, 30m, 24h, 7d' },
    file: { type: 'string', arg: 'F', help: 'the payload file (at most 16 MiB)' },
    data: { type: 'string', arg: 'STR', help: 'the payload as text' },
    json: JSON_OUTPUT('the bundle_id and expiry'),
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh bundle send --dir node --to hq-1 --ttl 2d --file report.tar.gz', 'dadm-mesh bundle send --dir node --to broadcast --ttl 1h --data "resupply at 0600"']
} satisfies CommandSpec
