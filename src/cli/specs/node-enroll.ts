import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const NODE_ENROLL = {
  name: 'node enroll',
  summary: 'make this node\'s keys and enroll it with the CA over HTTPS (pinned --ca-cert)',
  description: 'Writes certificate, chain, root, config and node.json into NODEDIR. --token-file keeps the token out\nof the process list; a PKCS#11 PIN comes from --pkcs11-pin-file or DADM_MESH_PKCS11_PIN.',
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory to create' },
    'ca-url': { type: 'string', arg: 'URL', required: true, help: 'the enrollment service, https://HOST:PORT' },
    'ca-cert': { type: 'string', arg: 'ROOT.pem', required: true, help: 'the CA root to trust for the service (pinned)' },
    token: { type: 'string', arg: 'T', help: 'the enrollment token (give this or --token-file)' },
    'token-file': { type: 'string', arg: 'F', help: 'file holding the enrollment token' },
    'node-id': { type: 'string', arg: 'ID', help: 'the node_id to ask for (printed before enrolling)', shownDefault: 'this machine\'s hostname' },
    'key-algorithm': { type: 'string', default: 'P-256', arg: 'ALG', help: 'identity key algorithm: P-256 or Ed25519' },
    'key-store': { type: 'string', default: 'auto', arg: 'KIND', help: 'where the identity key lives: software, pkcs11, tpm, or auto (a PKCS#11 token that opens with the PIN source, else a TPM with tpm2-pkcs11, else the encrypted file; the choice and why are printed)' },
    'pkcs11-module': { type: 'string', arg: 'M', help: 'PKCS#11 module path', shownDefault: 'SoftHSM2\'s, or DADM_MESH_PKCS11_MODULE' },
    'pkcs11-token': { type: 'string', arg: 'L', help: 'PKCS#11 token label' },
    'pkcs11-pin-file': { type: 'string', arg: 'F', help: 'file holding the token PIN (mode 0600); else DADM_MESH_PKCS11_PIN' },
    'tpm-tcti': { type: 'string', arg: 'T', help: 'TPM TCTI, e.g. device:/dev/tpmrm0 or swtpm:port=2321', shownDefault: 'the system TPM' },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT('the enrolled identity')
  },
  examples: [
    'dadm-mesh node enroll --dir /var/lib/dadm/node --ca-url https://ca.example.net:8443 --ca-cert root.pem --token-file sensor-7.token',
    'dadm-mesh node enroll --dir node --ca-url https://203.0.113.7:8443 --ca-cert root.pem --token T --node-id sensor-7 --key-store auto'
  ]
} satisfies CommandSpec
