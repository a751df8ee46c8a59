import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_TOKEN = {
  name: 'ca token',
  summary: 'create a one-time enrollment token and print it once (the CA keeps only its hash)',
  description: 'Works while `ca serve` runs (through its admin socket). --replace mints a replacement for --node-id:\nits enrollment revokes that node_id\'s live certificates (reason superseded).\n--role puts roles into the certificate the CA issues; rotation and renewal keep them.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    'node-id': { type: 'string', arg: 'ID', help: 'bind the token to this node_id', shownDefault: 'any node_id' },
    ttl: { type: 'string', default: '1h', arg: 'DURATION', help: 'how long the token can be used' },
    uses: { type: 'string', default: '1', arg: 'N', help: 'how many enrollments it allows' },
    json: JSON_OUTPUT('the token and its record'),
    role: { type: 'string', multiple: true, default: [], arg: 'ROLE', help: 'a role the enrolled node\'s certificate carries (at most 16, each [a-z][a-z0-9-]{0,31})', shownDefault: 'no roles' },
    replace: { type: 'boolean', default: false, help: 'with --node-id: the enrollment replaces the node_id\'s current holder' },
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh ca token --dir ca --node-id sensor-7 > sensor-7.token', 'dadm-mesh ca token --dir ca --ttl 30m --uses 20 --json', 'dadm-mesh ca token --dir ca --node-id gw-1 --role gateway --role telemetry']
} satisfies CommandSpec
