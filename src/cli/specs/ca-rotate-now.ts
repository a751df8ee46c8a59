import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_ROTATE_NOW = {
  name: 'ca rotate-now',
  summary: 'sign a notice telling every node (or the named ones) to renew its certificate now',
  description: 'Give --node-id (one or more) or --all. Through a running `ca serve` the notice goes onto the mesh at\nonce; otherwise it is stored and nodes fetch it at GET /v1/notices. --out writes it to a file to\ncarry across an air gap.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    'node-id': { type: 'string', multiple: true, default: [], arg: 'ID', help: 'a node to rotate' },
    all: { type: 'boolean', default: false, help: 'every node' },
    ttl: { type: 'string', arg: 'DURATION', help: 'how long the notice stays valid', shownDefault: '24h' },
    out: { type: 'string', arg: 'FILE', help: 'also write the signed notice to FILE' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT('the notice and what was done with it')
  },
  examples: ['dadm-mesh ca rotate-now --dir ca --all', 'dadm-mesh ca rotate-now --dir ca --node-id sensor-7 --node-id sensor-9 --ttl 2h --out notice.cbor']
} satisfies CommandSpec
