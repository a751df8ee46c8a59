import type { CaStore, CertProfile, IssuedCertRecord, NodeRevocationRecord } from '../store/ca-store.ts'
import type { MeshStore } from '../store/mesh-store.ts'

/**
 * The CA's inventory as `ca list-certs` and `ca list-nodes` show it: every certificate it issued
 * with what became of it, and every node_id it knows with its current standing. Read from the
 * store only (no key, no passphrase). A store of a long-lived mesh holds many certificates, so a
 * listing scans at most MAX_INVENTORY_SCAN records and returns at most MAX_INVENTORY_ROWS rows
 * (the newest), saying when it stopped short.
 */

export const MAX_INVENTORY_SCAN = 100_000
export const MAX_INVENTORY_ROWS = 20_000

export type CertStatus = 'valid' | 'not-yet-valid' | 'expired' | 'revoked' | 'superseded'

export interface CertRow {
  serial: string
  profile: CertProfile
  subject: string
  node_id: string | null
  peer_id: string | null
  /** Node certificates: the roles it carries (empty when none); other profiles: empty. */
  roles: string[]
  issued_at: string
  not_before: string
  not_after: string
  status: CertStatus
  /** With status revoked. */
  revoked_at?: string
  reason?: string
  /** The certificate that took this one's place by rotation or renewal. */
  superseded_by?: string
}

export type NodeStatus = 'active' | 'blocked' | 'revoked' | 'expired'

export interface NodeRow {
  node_id: string
  status: NodeStatus
  /** Node certificates issued to it. */
  certificates: number
  /** The newest certificate: serial, PeerId and expiry. */
  serial: string | null
  peer_id: string | null
  not_after: string | null
  last_issued_at: string | null
  /** With status blocked: the node_id revocation. */
  blocked_at?: string
  reason?: string
}

export interface CertListing { certificates: CertRow[], truncated: boolean }
export interface NodeListing { nodes: NodeRow[], truncated: boolean }

const iso = (ms: number): string => new Date(ms).toISOString()

/** Revocation first (a revoked certificate is refused whatever its dates), then the dates. */
function certStatus (rec: IssuedCertRecord, revoked: boolean, superseded: boolean, now: number): CertStatus {
  if (revoked) { return 'revoked' }
  if (now > rec.notAfter) { return 'expired' }
  if (now < rec.notBefore) { return 'not-yet-valid' }
  return superseded ? 'superseded' : 'valid'
}

async function certRow (store: CaStore, rec: IssuedCertRecord, now: number): Promise<CertRow> {
  const revoked = await store.getRevocation(rec.serialHex)
  const successor = await store.supersededBy(rec.serialHex)
  return {
    serial: rec.serialHex,
    profile: rec.profile,
    subject: rec.subject,
    node_id: rec.nodeId ?? null,
    peer_id: rec.peerId ?? null,
    roles: rec.roles ?? [],
    issued_at: iso(rec.issuedAt),
    not_before: iso(rec.notBefore),
    not_after: iso(rec.notAfter),
    status: certStatus(rec, revoked != null, successor != null, now),
    ...(revoked != null ? { revoked_at: iso(revoked.time), reason: revoked.reason } : {}),
    ...(successor != null ? { superseded_by: successor.by } : {})
  }
}

/** Scans the issued certificates (bounded), oldest issued first. */
async function scanCerts (meshStore: MeshStore): Promise<{ records: IssuedCertRecord[], truncated: boolean }> {
  const records: IssuedCertRecord[] = []
  let truncated = false
  for await (const rec of meshStore.sublevel<IssuedCertRecord>('ca-certs').values({ limit: MAX_INVENTORY_SCAN + 1 })) {
    if (records.length === MAX_INVENTORY_SCAN) { truncated = true; break }
    records.push(rec)
  }
  records.sort((a, b) => a.issuedAt - b.issuedAt || (a.serialHex < b.serialHex ? -1 : 1))
  return { records, truncated }
}

/** Certificates, all or one node_id's, oldest issued first (the newest MAX_INVENTORY_ROWS). */
export async function listCertificates (store: CaStore, meshStore: MeshStore, opts: { nodeId?: string, now: Date }): Promise<CertListing> {
  let records: IssuedCertRecord[]
  let truncated = false
  if (opts.nodeId != null) {
    records = (await store.certsByNode(opts.nodeId)).sort((a, b) => a.issuedAt - b.issuedAt)
  } else {
    ({ records, truncated } = await scanCerts(meshStore))
  }
  if (records.length > MAX_INVENTORY_ROWS) {
    records = records.slice(records.length - MAX_INVENTORY_ROWS)
    truncated = true
  }
  const now = opts.now.getTime()
  const certificates: CertRow[] = []
  for (const rec of records) { certificates.push(await certRow(store, rec, now)) }
  return { certificates, truncated }
}

/** Every node_id with node certificates or a block, sorted by node_id. */
export async function listNodes (store: CaStore, meshStore: MeshStore, opts: { now: Date }): Promise<NodeListing> {
  const now = opts.now.getTime()
  const scan = await scanCerts(meshStore)
  let truncated = scan.truncated
  const byNode = new Map<string, IssuedCertRecord[]>()
  for (const rec of scan.records) {
    if (rec.profile !== 'node' || rec.nodeId == null) { continue }
    const list = byNode.get(rec.nodeId) ?? []
    list.push(rec)
    byNode.set(rec.nodeId, list)
  }
  const blocks = new Map<string, NodeRevocationRecord>()
  for await (const b of meshStore.sublevel<NodeRevocationRecord>('ca-revoked-nodes').values({ limit: MAX_INVENTORY_SCAN })) {
    blocks.set(b.nodeId, b)
  }
  const ids = [...new Set([...byNode.keys(), ...blocks.keys()])].sort()
  if (ids.length > MAX_INVENTORY_ROWS) { ids.length = MAX_INVENTORY_ROWS; truncated = true }
  const nodes: NodeRow[] = []
  for (const nodeId of ids) { nodes.push(await nodeRow(store, nodeId, byNode.get(nodeId) ?? [], blocks.get(nodeId), now)) }
  return { nodes, truncated }
}

/** A block first (the CA issues the node_id nothing), then any live certificate, then the newest one's fate. */
async function nodeRow (store: CaStore, nodeId: string, certs: IssuedCertRecord[], block: NodeRevocationRecord | undefined, now: number): Promise<NodeRow> {
  let live = false
  for (const c of certs) {
    if (c.notBefore <= now && now <= c.notAfter && await store.getRevocation(c.serialHex) == null) { live = true }
  }
  const newest = certs.at(-1)
  let status: NodeStatus = 'expired'
  if (block != null) {
    status = 'blocked'
  } else if (live) {
    status = 'active'
  } else if (newest != null && await store.getRevocation(newest.serialHex) != null) {
    status = 'revoked'
  }
  return {
    node_id: nodeId,
    status,
    certificates: certs.length,
    serial: newest?.serialHex ?? null,
    peer_id: newest?.peerId ?? null,
    not_after: newest != null ? iso(newest.notAfter) : null,
    last_issued_at: newest != null ? iso(newest.issuedAt) : null,
    ...(block != null ? { blocked_at: iso(block.time), reason: block.reason } : {})
  }
}
