import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

/** The reasons ca/crl.ts knows, by name (kept here as text so that --help loads no CA code). */
export const REVOCATION_REASON_NAMES = 'unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise'

export const CA_REVOKE = {
  name: 'ca revoke',
  summary: 'revoke a certificate by serial, or every certificate of a node_id (and block it)',
  description: 'Give exactly one of --serial and --node-id. While `ca serve` runs for DIR the request goes to it\nover DIR/admin.sock and its mesh node pushes the new CRL at once. A node_id this CA never issued to\nfails UNKNOWN_NODE_ID unless --block-unknown.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    serial: { type: 'string', arg: 'S', help: 'the certificate serial (hex, colons allowed)' },
    'node-id': { type: 'string', arg: 'ID', help: 'revoke every certificate of this node_id and block it from new ones' },
    'block-unknown': { type: 'boolean', default: false, help: 'with --node-id: block a node_id that holds no certificate yet' },
    reason: { type: 'string', default: 'unspecified', arg: 'REASON', help: `CRL reason: ${REVOCATION_REASON_NAMES}` },
    'passphrase-file': PASSPHRASE_FILE,
    json: JSON_OUTPUT('the revoked serials')
  },
  examples: ['dadm-mesh ca revoke --dir ca --node-id sensor-7 --reason keyCompromise', 'dadm-mesh ca revoke --dir ca --serial 3f:a0:91:...']
} satisfies CommandSpec
