import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const GOSSIP_VERIFY = {
  name: 'gossip verify',
  summary: 'check a stored anomaly signature\'s origin signature again, against the current trust and CRLs',
  description: 'The running node checks the envelope it stored: the origin\'s chain at the message\'s timestamp,\n' +
    'revocation as of now, the identity key\'s delegation and the gossip key\'s signature. Exits 0 when\n' +
    'it holds, 1 with the refusal code (e.g. BAD_ORIGIN_SIGNATURE, ORIGIN_REVOKED) when it does not.',
  positionals: [{ name: 'MESSAGE_ID', help: 'the message_id, as `gossip list` shows it (ORIGIN:SUFFIX)' }],
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory of the running node' },
    json: JSON_OUTPUT('the verification result'),
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh gossip verify --dir node sensor-7:0b8f7a52-4d0e-4c77-9d38-7f6f0d7c5e11']
} satisfies CommandSpec
