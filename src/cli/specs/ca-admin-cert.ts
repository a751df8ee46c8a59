import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_ADMIN_CERT = {
  name: 'ca admin-cert',
  summary: 'issue an operator certificate and encrypted key for POST /v1/revoke',
  description: 'The key is generated here and written as encrypted PKCS#8 (the form curl --key/--pass and openssl\nread) under its own passphrase, never the CA\'s: --key-passphrase-file or\nDADM_MESH_ADMIN_KEY_PASSPHRASE. The certificate file holds the leaf then the chain.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    name: { type: 'string', arg: 'NAME', required: true, help: 'the operator\'s name: 1-64 of [A-Za-z0-9._-]' },
    'out-cert': { type: 'string', arg: 'F', required: true, help: 'where to write the certificate (refuses to overwrite)' },
    'out-key': { type: 'string', arg: 'F', required: true, help: 'where to write the encrypted key (mode 0600, refuses to overwrite)' },
    validity: { type: 'string', arg: 'DURATION', help: 'lifetime, e.g. 8h', shownDefault: '24h' },
    'key-passphrase-file': { type: 'string', arg: 'F', help: 'file holding the admin key\'s passphrase (mode 0600); else DADM_MESH_ADMIN_KEY_PASSPHRASE' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT('the issued certificate\'s serial and expiry')
  },
  examples: ['dadm-mesh ca admin-cert --dir ca --name alice --out-cert alice.pem --out-key alice.key --key-passphrase-file alice.pass']
} satisfies CommandSpec
