import { listCertificates, listNodes } from '../../ca/inventory.ts'
import { AdminSocketClient } from '../../enrollment/admin-client.ts'
import { EXIT, nowOf, parseCommand, reportError } from '../io.ts'
import { CA_LIST_CERTS } from '../specs/ca-list-certs.ts'
import { CA_LIST_NODES } from '../specs/ca-list-nodes.ts'
import { withCaStoreOnly } from './ca-admin.ts'
import type { CertListing, NodeListing } from '../../ca/inventory.ts'
import type { CaStore } from '../../store/ca-store.ts'
import type { MeshStore } from '../../store/mesh-store.ts'
import type { CliIo } from '../io.ts'

/**
 * `ca list-certs` and `ca list-nodes`: the CA's inventory, from the running service over its admin
 * socket, else from the store opened here without the keys (no passphrase: these only read).
 */

async function fromCa<T> (dir: string, viaService: (c: AdminSocketClient) => Promise<T>, direct: (store: CaStore, meshStore: MeshStore) => Promise<T>): Promise<T> {
  const client = await AdminSocketClient.connect(dir)
  if (client != null) { return viaService(client) }
  return withCaStoreOnly(dir, async (opened) => {
    return direct(opened.store, opened.meshStore)
  })
}

export async function caListCerts (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_LIST_CERTS)
  const dir = values.dir as string
  const nodeId = values['node-id']
  try {
    const listing = await fromCa<CertListing>(dir,
      async c => c.listCerts(nodeId != null ? { nodeId } : {}),
      async (store, meshStore) => listCertificates(store, meshStore, { ...(nodeId != null ? { nodeId } : {}), now: nowOf(io) }))
    io.stdout.write(values.json === true ? JSON.stringify(listing, null, 2) + '\n' : formatCerts(listing))
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

export async function caListNodes (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_LIST_NODES)
  const dir = values.dir as string
  try {
    const listing = await fromCa<NodeListing>(dir,
      async c => c.listNodes(),
      async (store, meshStore) => listNodes(store, meshStore, { now: nowOf(io) }))
    io.stdout.write(values.json === true ? JSON.stringify(listing, null, 2) + '\n' : formatNodes(listing))
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

export function formatCerts (l: CertListing): string {
  const rows = l.certificates.map(c => [c.serial, c.status + (c.reason != null ? `(${c.reason})` : ''), c.profile, c.subject, c.roles.length > 0 ? c.roles.join(',') : '-', c.issued_at, c.not_after, c.superseded_by ?? ''])
  return table(['SERIAL', 'STATUS', 'PROFILE', 'SUBJECT', 'ROLES', 'ISSUED_AT', 'NOT_AFTER', 'SUPERSEDED_BY'], rows, `${l.certificates.length} certificate(s)`, l.truncated)
}

export function formatNodes (l: NodeListing): string {
  const rows = l.nodes.map(n => [n.node_id, n.status + (n.reason != null ? `(${n.reason})` : ''), String(n.certificates), n.serial ?? '-', n.not_after ?? '-', n.peer_id ?? '-'])
  return table(['NODE_ID', 'STATUS', 'CERTS', 'SERIAL', 'NOT_AFTER', 'PEER_ID'], rows, `${l.nodes.length} node(s)`, l.truncated)
}

function table (head: string[], rows: string[][], count: string, truncated: boolean): string {
  const cells = [head, ...rows]
  const widths = head.map((_, i) => Math.max(...cells.map(r => r[i].length)))
  const lines = cells.map(r => r.map((v, i) => i === r.length - 1 ? v : v.padEnd(widths[i])).join('  ').trimEnd())
  lines.push(count + (truncated ? ' (truncated: the listing stops at its limit; use --json and --node-id to narrow it)' : ''))
  return lines.join('\n') + '\n'
}
