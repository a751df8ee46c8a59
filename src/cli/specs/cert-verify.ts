import { JSON_OUTPUT } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CERT_VERIFY = {
  name: 'cert verify',
  summary: 'validate a certificate against trust anchors (and CRLs) as the mesh does',
  description: 'On failure the first word on stderr is the bounded error code (e.g. REVOKED, EXPIRED).',
  positionals: [{ name: 'CERT.pem', help: 'the certificate to check (exactly one)' }],
  options: {
    ca: { type: 'string', multiple: true, arg: 'ROOT.pem', required: true, help: 'trust anchor file' },
    intermediate: { type: 'string', multiple: true, arg: 'F', help: 'intermediate CA certificates' },
    crl: { type: 'string', multiple: true, arg: 'F', help: 'CRL file in PEM' },
    at: { type: 'string', arg: 'ISO-TIME', help: 'validate at this time', shownDefault: 'now' },
    profile: { type: 'string', default: 'node', arg: 'P', help: 'the extended key usage to require: node, admin or server' },
    'node-id': { type: 'string', arg: 'ID', help: 'require this node_id in the certificate' },
    'peer-id': { type: 'string', arg: 'P', help: 'require this PeerId in the certificate' },
    'require-crl': { type: 'boolean', default: false, help: 'fail when no CRL covers an issuer on the path' },
    json: JSON_OUTPUT('the verdict')
  },
  examples: ['dadm-mesh cert verify --ca ca/root.pem --intermediate ca/ca-chain.pem node/cert.pem', 'dadm-mesh cert verify --ca root.pem --crl issuing.crl --require-crl --node-id sensor-7 cert.pem'],
  exitCodes: { 1: 'the certificate is not valid (code first on stderr)' }
} satisfies CommandSpec
