import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const GOSSIP_SIGN = {
  name: 'gossip sign',
  summary: 'sign an anomaly signature offline as a member; writes the envelope for `gossip publish --signed`',
  description: 'Signs with the identity key of a node directory (--dir; the node need not run) or of a key file\n' +
    'and its certificate chain (--key and --cert). The envelope carries the signer\'s chain, a\n' +
    'one-off gossip key delegated by the identity key, and that key\'s signature. Any member node\n' +
    'accepts it (`gossip publish --signed`, or POST /v1/mesh/gossip {"envelope": base64}), checks it\n' +
    'as a received message and gossips it byte for byte.',
  options: {
    dir: { type: 'string', arg: 'NODEDIR', help: 'sign with this node directory\'s identity key and certificate' },
    key: { type: 'string', arg: 'KEY', help: 'or: the encrypted identity key file (from keygen)' },
    cert: { type: 'string', arg: 'CHAIN.pem', help: 'with --key: the certificate, then its CA certificates (PEM)' },
    type: { type: 'string', arg: 'T', required: true, help: 'the signature type, e.g. ip, hash, domain' },
    value: { type: 'string', arg: 'V', required: true, help: 'the signature value' },
    ttl: { type: 'string', arg: 'DURATION', help: 'lifetime, e.g. 600, 30m, 24h', shownDefault: '1h' },
    meta: { type: 'string', multiple: true, default: [], arg: 'KEY=VALUE', help: 'extra field (repeatable; whole numbers and true/false are typed)' },
    out: { type: 'string', arg: 'FILE', required: true, help: 'where to write the envelope (binary CBOR, mode 0644)' },
    json: JSON_OUTPUT('the message_id, origin, expiry and the envelope in base64'),
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: [
    'dadm-mesh gossip sign --dir fusion --type ip --value 198.51.100.23 --ttl 1h --out ioc.env',
    'dadm-mesh gossip sign --key fusion.key --cert fusion-chain.pem --type hash --value 9f86d0... --out ioc.env'
  ]
} satisfies CommandSpec
