import { JSON_OUTPUT } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const CA_BACKUP = {
  name: 'ca backup',
  summary: 'copy a CA directory consistently (store snapshot, certificates, encrypted keys; no admin socket)',
  description: 'Safe while `ca serve` runs: the copy is then made by the service from one snapshot of its store.\nThe key files stay encrypted: no passphrase is needed, and none is in the copy. A backup cannot be\nserved as it is; `ca restore` makes a CA of it.',
  options: {
    dir: { type: 'string', arg: 'DIR', required: true, help: 'the CA directory' },
    out: { type: 'string', arg: 'OUTDIR', required: true, help: 'where the copy goes: absent or an empty directory (written as the service\'s user when it runs)' },
    json: JSON_OUTPUT('the backup manifest')
  },
  examples: ['dadm-mesh ca backup --dir /var/lib/dadm-mesh/ca --out /srv/backup/ca-2026-12-07']
} satisfies CommandSpec
