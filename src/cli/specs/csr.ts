import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CSR = {
  name: 'csr',
  summary: 'write a node certificate request (PEM) signed by a key file',
  description: 'Without --peer-id the PeerId is derived from an Ed25519 key (the key is then also the libp2p\nhost key); a P-256 key needs --peer-id.',
  options: {
    key: { type: 'string', arg: 'KEY', required: true, help: 'the encrypted key file (from keygen)' },
    'node-id': { type: 'string', arg: 'ID', required: true, help: 'the node_id to ask for: 1-64 of [A-Za-z0-9._-]' },
    'peer-id': { type: 'string', arg: 'P', help: 'the libp2p PeerId to bind', shownDefault: 'derived from an Ed25519 key' },
    out: { type: 'string', arg: 'CSR', required: true, help: 'where to write the CSR' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT()
  },
  examples: ['dadm-mesh csr --key node.key --node-id sensor-7 --out sensor-7.csr']
} satisfies CommandSpec
