import { JSON_OUTPUT } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_RESTORE = {
  name: 'ca restore',
  summary: 'make a CA directory from a `ca backup` without forking CRL numbering or undoing revocations',
  description: 'The backup is older than the CA it copied. Give the newest CRLs the mesh holds (--seen-crl, from a\nnode or the published CRL URL; repeat for the root\'s): they must be this CA\'s, every certificate they\nrevoke stays revoked, and CRL numbers restart above them and above the restore time in seconds.\nTokens from the backup are void. Without a seen CRL the restore needs --without-seen-crl.',
  options: {
    from: { type: 'string', arg: 'BACKUP', required: true, help: 'the directory `ca backup` wrote' },
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the new CA directory: absent or empty' },
    'seen-crl': { type: 'string', multiple: true, default: [], arg: 'FILE', help: 'a CRL (PEM or DER) the mesh holds; repeatable' },
    'without-seen-crl': { type: 'boolean', default: false, help: 'restore with no seen CRL: revocations made after the backup are lost' },
    json: JSON_OUTPUT('what the restore did')
  },
  examples: [
    'curl -s --cacert root.pem https://ca.example:8443/v1/crl > seen.crl && dadm-mesh ca restore --from /srv/backup/ca-2026-12-07 --dir /var/lib/dadm-mesh/ca --seen-crl seen.crl'
  ]
} satisfies CommandSpec
