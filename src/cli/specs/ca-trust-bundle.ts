import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_TRUST_BUNDLE = {
  name: 'ca trust-bundle',
  summary: 'sign (with the root key) the set of roots every node trusts from now on',
  description: 'CA rotation: first the old and the new root, then, once every node has rotated, only the new one.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    roots: { type: 'string', arg: 'ROOTS.pem', required: true, help: 'the roots to trust (PEM)' },
    cas: { type: 'string', arg: 'CAS.pem', help: 'issuing CA certificates the nodes should also hold' },
    ttl: { type: 'string', arg: 'DURATION', help: 'how long the notice stays valid', shownDefault: '24h' },
    out: { type: 'string', arg: 'FILE', help: 'also write the signed notice to FILE' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT('the notice and what was done with it')
  },
  examples: ['cat old/root.pem new/root.pem > both.pem && dadm-mesh ca trust-bundle --dir old --roots both.pem --cas new/ca-chain.pem']
} satisfies CommandSpec
