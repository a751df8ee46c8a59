import { JSON_OUTPUT } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_STATUS = {
  name: 'ca status',
  summary: 'whether `ca serve` runs for DIR, its URL, certificate names and mesh node; the CA\'s certificates, CRL and notices',
  description: 'Asks the running service over DIR/admin.sock; when none runs, reads ca.json, the certificates and the\nstore without the keys. Needs no passphrase.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    json: JSON_OUTPUT('the status')
  },
  examples: ['dadm-mesh ca status --dir /var/lib/dadm/ca', 'dadm-mesh ca status --dir ca --json | jq .service.mesh']
} satisfies CommandSpec
