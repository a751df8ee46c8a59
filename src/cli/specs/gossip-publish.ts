import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const GOSSIP_PUBLISH = {
  name: 'gossip publish',
  summary: 'have the running node sign and gossip an anomaly signature (or forward a pre-signed one); prints its message_id',
  description: 'With --signed FILE the node forwards an envelope another member signed (`gossip sign`) instead:\n' +
    'it checks it exactly as a received message and gossips it byte for byte; a refusal names the\n' +
    'validator\'s code (e.g. BAD_ORIGIN_SIGNATURE).',
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory of the running node' },
    type: { type: 'string', arg: 'T', help: 'the signature type, e.g. ip, hash, domain (required without --signed)' },
    value: { type: 'string', arg: 'V', help: 'the signature value (required without --signed)' },
    signed: { type: 'string', arg: 'FILE', help: 'forward this pre-signed envelope (from `gossip sign`) instead' },
    ttl: { type: 'string', arg: 'DURATION', help: 'lifetime, e.g. 600, 30m, 24h', shownDefault: 'the node\'s' },
    meta: { type: 'string', multiple: true, default: [], arg: 'KEY=VALUE', help: 'extra field (repeatable; whole numbers and true/false are typed)' },
    json: JSON_OUTPUT('the message_id, expiry and recipients'),
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh gossip publish --dir node --type ip --value 198.51.100.23 --ttl 1h --meta severity=3', 'dadm-mesh gossip publish --dir node --signed ioc.env']
} satisfies CommandSpec
