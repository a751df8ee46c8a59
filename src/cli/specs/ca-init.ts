import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_INIT = {
  name: 'ca init',
  summary: 'create a CA: root, issuing intermediate, keys, ca.json and its store',
  description: 'With --key-store pkcs11 the CA keys are made in the token (P-256, never extractable) and every\ncertificate and CRL is signed there; the PIN comes from --pkcs11-pin-file or DADM_MESH_PKCS11_PIN.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory to create' },
    'key-alg': { type: 'string', default: 'P-256', arg: 'ALG', help: 'CA key algorithm: P-256 or Ed25519' },
    'no-intermediate': { type: 'boolean', default: false, help: 'sign node certificates with the root itself (no issuing CA)' },
    'key-store': { type: 'string', default: 'software', arg: 'KIND', help: 'where the CA keys live: software (encrypted files) or pkcs11' },
    'pkcs11-module': { type: 'string', arg: 'M', help: 'PKCS#11 module path', shownDefault: 'SoftHSM2\'s, or DADM_MESH_PKCS11_MODULE' },
    'pkcs11-token': { type: 'string', arg: 'L', help: 'PKCS#11 token label (needed with --key-store pkcs11)' },
    'pkcs11-pin-file': { type: 'string', arg: 'F', help: 'file holding the token PIN (mode 0600); else DADM_MESH_PKCS11_PIN' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT('what was created')
  },
  examples: ['DADM_MESH_PASSPHRASE=... dadm-mesh ca init --dir /var/lib/dadm/ca', 'dadm-mesh ca init --dir ca --key-store pkcs11 --pkcs11-token dadm-ca --pkcs11-pin-file pin.txt']
} satisfies CommandSpec
