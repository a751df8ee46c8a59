import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const KEYGEN = {
  name: 'keygen',
  summary: 'write a new node key, encrypted (mode 0600)',
  description: 'Refuses to overwrite a file or to write without a passphrase. Prints the public key, and for\nEd25519 the PeerId it gives when used as the libp2p host key.',
  options: {
    out: { type: 'string', arg: 'KEY', required: true, help: 'where to write the encrypted key file' },
    alg: { type: 'string', default: 'Ed25519', arg: 'ALG', help: 'key algorithm: Ed25519 or P-256' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT()
  },
  examples: ['DADM_MESH_PASSPHRASE=... dadm-mesh keygen --out node.key', 'dadm-mesh keygen --out node.key --alg P-256 --passphrase-file pass.txt']
} satisfies CommandSpec
