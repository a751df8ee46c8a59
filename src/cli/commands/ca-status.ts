import { readFile } from 'node:fs/promises'
import { caPaths } from '../../ca/ca-files.ts'
import { AdminSocketClient } from '../../enrollment/admin-client.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { pemToDerAll } from '../../util/pem.ts'
import { EXIT, nowOf, parseCommand, reportError, required } from '../io.ts'
import { CA_STATUS } from '../specs/ca-status.ts'
import { withCaStoreOnly } from './ca-admin.ts'
import type { CliIo } from '../io.ts'

/** Largest certificate file read. */
const MAX_PEM_BYTES = 256 * 1024

/** What `ca status --json` prints. */
export interface CaStatus {
  dir: string
  certificates: Array<{ subject: string, serial: string, not_after: string, expired: boolean }>
  /** The running `ca serve`, as it reports itself; null when none answers on DIR/admin.sock. */
  service: Record<string, unknown> | null
  crl: { number: number, this_update: string, next_update: string } | null
  /** Unexpired CA notices kept for polling nodes. */
  notices: number | null
  certificates_issued: number | null
}

async function caCertificates (dir: string, now: Date): Promise<CaStatus['certificates']> {
  const paths = caPaths(dir)
  const out: CaStatus['certificates'] = []
  for (const [file, flagHint] of [[paths.chain, 'ca-chain.pem'], [paths.root, 'root.pem']] as const) {
    let pem: Buffer
    try {
      pem = await readFile(file)
    } catch (err: any) {
      if (err?.code === 'ENOENT' && flagHint === 'ca-chain.pem') { continue }
      throw Object.assign(new Error(`cannot read ${file} (--dir): ${String(err?.message)}`), { code: err?.code ?? 'FAILED' })
    }
    if (pem.length > MAX_PEM_BYTES) { throw Object.assign(new Error(`${file} (--dir) is too large for a certificate file`), { code: 'FILE_TOO_LARGE' }) }
    for (const der of pemToDerAll(pem.toString('utf8'), 'CERTIFICATE')) {
      const c = parseCertificate(der)
      if (out.some(o => o.serial === c.serialHex)) { continue }
      out.push({ subject: c.subject.key, serial: c.serialHex, not_after: new Date(c.notAfter).toISOString(), expired: c.notAfter <= now.getTime() })
    }
  }
  return out
}

/** Gathers the status: from the running service when one answers, else from the files and the store. */
export async function caStatusOf (dir: string, now: Date): Promise<CaStatus> {
  const certificates = await caCertificates(dir, now)
  const client = await AdminSocketClient.connect(dir)
  if (client != null) {
    const s = await client.status()
    const crl = s.crl as CaStatus['crl'] | undefined
    return { dir, certificates, service: s, crl: crl ?? null, notices: typeof s.notices === 'number' ? s.notices : null, certificates_issued: typeof s.certificates_issued === 'number' ? s.certificates_issued : null }
  }
  return withCaStoreOnly(dir, async (opened) => {
    const crl = await opened.store.latestCrl('issuing')
    const kept = (await opened.store.listNotices()).filter(n => n.exp == null || n.exp > now.getTime()).length
    return {
      dir,
      certificates,
      service: null,
      crl: crl != null ? { number: crl.crlNumber, this_update: new Date(crl.thisUpdate).toISOString(), next_update: new Date(crl.nextUpdate).toISOString() } : null,
      notices: kept,
      certificates_issued: await opened.store.countCerts()
    }
  })
}

export function formatCaStatus (s: CaStatus): string {
  const lines: Array<[string, string]> = []
  const svc = s.service
  if (svc == null) {
    lines.push(['service', 'not running (no `ca serve` answers on DIR/admin.sock)'])
  } else {
    lines.push(['service', `running, pid ${String(svc.pid)}${svc.url != null ? `, ${String(svc.url)}` : ''}`])
    if (Array.isArray(svc.server_names)) { lines.push(['names', (svc.server_names as string[]).join(', ')]) }
    const mesh = svc.mesh as { node_id?: string, peer_id?: string, addrs?: string[], authenticated_peers?: number } | null | undefined
    lines.push(['mesh node', mesh == null
      ? 'off (--no-mesh): revocations reach nodes at their CRL poll, notices at their notice poll'
      : `${String(mesh.node_id)} (peer ${String(mesh.peer_id)}), ${String(mesh.authenticated_peers)} authenticated peer(s), push on`])
  }
  for (const c of s.certificates) { lines.push(['certificate', `${c.subject}, serial ${c.serial}, ${c.expired ? 'EXPIRED' : 'valid'} until ${c.not_after}`]) }
  lines.push(['crl', s.crl != null ? `number ${s.crl.number}, next update ${s.crl.next_update}` : 'none issued yet'])
  if (s.notices != null) { lines.push(['notices', `${s.notices} unexpired, served at GET /v1/notices`]) }
  if (s.certificates_issued != null) { lines.push(['issued', `${s.certificates_issued} certificate(s)`]) }
  const width = Math.max(...lines.map(l => l[0].length))
  return lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n'
}

/** `ca status`: human summary or `--json`; read-only, no passphrase. */
export async function caStatus (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_STATUS)
  const dir = required(values.dir, '--dir')
  try {
    const s = await caStatusOf(dir, nowOf(io))
    io.stdout.write(values.json === true ? JSON.stringify(s, null, 2) + '\n' : formatCaStatus(s))
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
