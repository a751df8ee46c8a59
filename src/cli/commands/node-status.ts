import { readFile } from 'node:fs/promises'
import { nodePaths, readNodeFile } from '../../daemon/enroll/node-files.ts'
import { readCrlStatusFile } from '../../daemon/runtime/crl-status-file.ts'
import { NodeRuntimeError } from '../../daemon/runtime/errors.ts'
import { isProcessAlive, readRunFile } from '../../daemon/runtime/run-file.ts'
import { readSelfRevoked } from '../../daemon/runtime/self-revocation.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { rolesOf } from '../../pki/roles-extension.ts'
import { pemToDer } from '../../util/pem.ts'
import { EXIT, nowOf, parseCommand, reportError, required } from '../io.ts'
import { NODE_STATUS } from '../specs/node-status.ts'
import type { CrlStatusFile } from '../../daemon/runtime/crl-status-file.ts'
import type { SelfRevoked } from '../../daemon/runtime/self-revocation.ts'
import type { CliIo } from '../io.ts'

/** What `node status --json` prints. */
export interface NodeStatus {
  node_id: string
  peer_id: string
  /** revoked: a CRL lists the certificate in node.json (or a CA above it); else whether a process runs it. */
  state: 'revoked' | 'running' | 'stopped'
  process: { running: boolean, pid: number | null, api_url: string | null, multiaddrs: string[], started_at: string | null }
  certificate: { serial: string, not_after: string, expired: boolean }
  /** The roles the CA put in cert.pem, sorted (empty when none). */
  roles: string[]
  revoked: SelfRevoked | null
  crl: CrlStatusFile | null
}

/** Gathers the status from the files of NODEDIR; NOT_ENROLLED when there is no node.json. */
export async function nodeStatusOf (dir: string, now: Date): Promise<NodeStatus> {
  const file = await readNodeFile(dir)
  if (file == null) { throw new NodeRuntimeError('NOT_ENROLLED', `${dir} holds no node.json (--dir): enroll first with \`dadm-mesh node enroll --dir ${dir}\``) }
  const [run, revoked, crl, roles] = await Promise.all([readRunFile(dir).catch(() => undefined), readSelfRevoked(dir, file.serial), readCrlStatusFile(dir), rolesOfNode(dir)])
  const running = run != null && isProcessAlive(run.pid)
  return {
    node_id: file.node_id,
    peer_id: file.peer_id,
    state: revoked != null ? 'revoked' : running ? 'running' : 'stopped',
    process: {
      running,
      pid: running ? run.pid : null,
      api_url: running ? run.api_url : null,
      multiaddrs: running ? run.multiaddrs : [],
      started_at: running ? run.started_at : null
    },
    certificate: { serial: file.serial, not_after: file.not_after, expired: Date.parse(file.not_after) <= now.getTime() },
    roles,
    revoked: revoked ?? null,
    crl: crl ?? null
  }
}

/** The roles in NODEDIR/cert.pem: the node's own certificate, as the CA signed it. */
async function rolesOfNode (dir: string): Promise<string[]> {
  return rolesOf(parseCertificate(pemToDer(await readFile(nodePaths(dir).cert, 'utf8'), 'CERTIFICATE')))
}

/** The human summary: one fact a line, the state first. */
export function formatNodeStatus (s: NodeStatus): string {
  const lines: Array<[string, string]> = []
  if (s.revoked != null) {
    const r = s.revoked
    const what = r.revoked_subject === 'node' ? `certificate ${r.revoked_serial}` : `CA certificate ${r.revoked_serial} above this node`
    lines.push(['state', `revoked: ${what}, reason ${r.reason}, CRL number ${r.crl_number ?? 'unknown'}, revoked at ${r.revoked_at} (learnt ${r.detected_at})`])
    lines.push(['next step', 'enroll again with a new token (dadm-mesh ca token, then dadm-mesh node enroll)'])
  } else {
    lines.push(['state', s.state])
  }
  lines.push(['node_id', s.node_id], ['peer_id', s.peer_id])
  lines.push(['process', s.process.running ? `running, pid ${String(s.process.pid)} since ${String(s.process.started_at)}` : 'not running'])
  if (s.process.running) {
    lines.push(['api', s.process.api_url ?? 'off'])
    lines.push(['addresses', s.process.multiaddrs.join(' ') || '(none)'])
  }
  lines.push(['certificate', `serial ${s.certificate.serial}, ${s.certificate.expired ? 'EXPIRED' : 'valid'} until ${s.certificate.not_after}`])
  lines.push(['roles', s.roles.length > 0 ? s.roles.join(', ') : '(none)'])
  if (s.crl == null || s.crl.crls.length === 0) {
    lines.push(['crl', 'none held yet'])
  } else {
    for (const c of s.crl.crls) { lines.push(['crl', `number ${c.crl_number ?? '?'}, next update ${c.next_update ?? 'none'}`]) }
    if (s.crl.last_installed != null) { lines.push(['crl change', `number ${s.crl.last_installed.crl_number} by ${s.crl.last_installed.source} at ${s.crl.last_installed.at}`]) }
  }
  const width = Math.max(...lines.map(l => l[0].length))
  return lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n'
}

/**
 * `node status`: the node's state from its directory alone, so it answers at once, needs no
 * passphrase, and still answers for a node its own admin API refuses (a revoked one). Exit 3 when revoked.
 */
export async function nodeStatus (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, NODE_STATUS)
  const dir = required(values.dir, '--dir')
  try {
    const s = await nodeStatusOf(dir, nowOf(io))
    io.stdout.write(values.json === true ? JSON.stringify(s, null, 2) + '\n' : formatNodeStatus(s))
    return s.state === 'revoked' ? EXIT.REVOKED : EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
