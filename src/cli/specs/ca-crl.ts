import { PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_CRL = {
  name: 'ca crl',
  summary: 'print the current CRL as PEM (the issuing CA\'s, or the root\'s)',
  description: 'The output is the CRL document itself, ready for a file or `openssl crl`; it has no --json form.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    root: { type: 'boolean', default: false, help: 'the root\'s CRL instead of the issuing CA\'s' },
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh ca crl --dir ca > issuing.crl', 'dadm-mesh ca crl --dir ca --root | openssl crl -noout -text']
} satisfies CommandSpec
