import { readFile } from 'node:fs/promises'
import { pemToDer } from '../../util/pem.ts'
import { EXIT, nowOf, parse, parseDuration, reportError, required, UsageError } from '../io.ts'
import { withCa } from './ca-common.ts'
import type { CliIo } from '../io.ts'

export const usage = 'dadm-mesh ca issue --dir DIR --csr FILE [--node-id ID] [--validity 24h] [--profile node|admin|server] [--dns NAME]... [--ip ADDR]... [--passphrase-file F]'

/** Largest CSR file we read (the CA refuses larger CSRs anyway). */
const MAX_CSR_FILE = 256 * 1024

/** `ca issue`: issues a certificate from a PEM CSR and prints it (PEM) on stdout. */
export async function caIssue (args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    csr: { type: 'string' },
    'node-id': { type: 'string' },
    validity: { type: 'string' },
    profile: { type: 'string', default: 'node' },
    dns: { type: 'string', multiple: true },
    ip: { type: 'string', multiple: true },
    'passphrase-file': { type: 'string' }
  })
  const dir = required(values.dir, '--dir')
  const csrPath = required(values.csr, '--csr')
  const profile = values.profile ?? 'node'
  if (profile !== 'node' && profile !== 'admin' && profile !== 'server') { throw new UsageError('--profile must be node, admin or server') }
  const validitySeconds = values.validity != null ? parseDuration(values.validity) : undefined
  try {
    const bytes = await readFile(csrPath)
    if (bytes.length > MAX_CSR_FILE) { throw new UsageError(`${csrPath} is too large for a CSR`) }
    // Parsed from bytes, before the CA is opened: binary input is reported as DER_WHERE_PEM_EXPECTED.
    const csrDer = pemToDer(bytes, 'CERTIFICATE REQUEST')
    return await withCa(dir, values['passphrase-file'], io, async ca => {
      const issued = await ca.issue({
        csr: csrDer,
        now: nowOf(io),
        profile,
        ...(validitySeconds != null ? { validitySeconds } : {}),
        ...(values['node-id'] != null ? { nodeId: values['node-id'] } : {}),
        ...(values.dns != null ? { dnsNames: values.dns } : {}),
        ...(values.ip != null ? { ipAddresses: values.ip } : {})
      })
      io.stdout.write(issued.pem)
      io.stderr.write(`issued serial ${issued.serialHex} to ${issued.subject}, valid until ${new Date(issued.notAfter).toISOString()}\n`)
      return EXIT.OK
    })
  } catch (err) {
    return reportError(io, err)
  }
}
