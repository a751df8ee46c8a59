import { readFile } from 'node:fs/promises'
import { AdminSocketClient } from '../../enrollment/admin-client.ts'
import { derToPem, pemToDer } from '../../util/pem.ts'
import { EXIT, nowOf, parseCommand, parseDuration, reportError, required, UsageError } from '../io.ts'
import { CA_ISSUE } from '../specs/ca-issue.ts'
import { refuseWrongPassphrase } from './ca-admin.ts'
import { withCa } from './ca-common.ts'
import type { MeshCa } from '../../ca/index.ts'
import type { CliIo } from '../io.ts'

/** Largest CSR file we read (the CA refuses larger CSRs anyway). */
const MAX_CSR_FILE = 256 * 1024

/** `ca issue`: issues a certificate from a PEM CSR and prints it (PEM) on stdout. */
export async function caIssue (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_ISSUE)
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
    // While `ca serve` holds the store (and the key), it signs: the store admits one process.
    const client = await AdminSocketClient.connect(dir)
    if (client != null) { await refuseWrongPassphrase(client, io, values['passphrase-file']) }
    const issueWith = client != null
      ? async (fn: (ca: Pick<MeshCa, 'issue'>) => Promise<number>) => fn({
        issue: async (req) => {
          const r = await client.issueForOperator({ csrPem: derToPem(csrDer, 'CERTIFICATE REQUEST'), profile, ...(req.validitySeconds != null ? { validitySeconds: req.validitySeconds } : {}), ...(req.nodeId != null ? { nodeId: req.nodeId } : {}), ...(req.dnsNames != null ? { dnsNames: req.dnsNames } : {}), ...(req.ipAddresses != null ? { ipAddresses: req.ipAddresses } : {}) })
          return { pem: r.pem, serialHex: r.serialHex, subject: r.subject, notAfter: r.notAfter } as any
        }
      })
      : async (fn: (ca: Pick<MeshCa, 'issue'>) => Promise<number>) => withCa(dir, values['passphrase-file'], io, fn)
    return await issueWith(async ca => {
      const issued = await ca.issue({
        csr: csrDer,
        now: nowOf(io),
        profile,
        ...(validitySeconds != null ? { validitySeconds } : {}),
        ...(values['node-id'] != null ? { nodeId: values['node-id'] } : {}),
        ...(values.dns != null ? { dnsNames: values.dns } : {}),
        ...(values.ip != null ? { ipAddresses: values.ip } : {})
      })
      if (values.json) {
        io.stdout.write(JSON.stringify({ serial: issued.serialHex, subject: issued.subject, not_after: new Date(issued.notAfter).toISOString(), pem: issued.pem }, null, 2) + '\n')
        return EXIT.OK
      }
      io.stdout.write(issued.pem)
      io.stderr.write(`issued serial ${issued.serialHex} to ${issued.subject}, valid until ${new Date(issued.notAfter).toISOString()}\n`)
      return EXIT.OK
    })
  } catch (err) {
    return reportError(io, err)
  }
}
