import { JSON_OUTPUT, PASSPHRASE_FILE } from './spec.ts'
import type { CommandSpec } from './spec.ts'

export const BUNDLE_GET = {
  name: 'bundle get',
  summary: 'read one bundle delivered to the running node: its payload to a file or stdout',
  description: 'The payload\'s SHA-256 is checked against the node\'s record before anything is written.\nWithout --out the payload goes to stdout as it is and a summary line to stderr.',
  positionals: [{ name: 'BUNDLE_ID', help: 'the bundle_id, as `bundle list` shows it (SOURCE:CREATED:SEQ)' }],
  options: {
    dir: { type: 'string', arg: 'NODEDIR', required: true, help: 'the node directory of the running node' },
    out: { type: 'string', arg: 'FILE', help: 'write the payload here (mode 0600; an existing file is never replaced)', shownDefault: 'stdout' },
    json: JSON_OUTPUT('the bundle record with its payload in base64'),
    'passphrase-file': PASSPHRASE_FILE
  },
  examples: ['dadm-mesh bundle get --dir node sensor-7:1764950400000:0 --out report.bin', 'dadm-mesh bundle get --dir node sensor-7:1764950400000:0 | less']
} satisfies CommandSpec
