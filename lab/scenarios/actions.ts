import type { LabMesh } from '../mesh.ts'

/**
 * What an operator does on a host, through the real command line: publish an anomaly signature,
 * send a bundle, revoke a node. Each returns the id the command printed.
 */
export async function publishSignature (mesh: LabMesh, nodeId: string, value: string): Promise<string> {
  const n = mesh.node(nodeId)
  const out = await mesh.cli(n.host, ['gossip', 'publish', '--dir', n.dir, '--type', 'lab', '--value', value, '--json'])
  return (JSON.parse(out) as { message_id: string }).message_id
}

export async function sendBundle (mesh: LabMesh, from: string, to: string, data: string): Promise<string> {
  const n = mesh.node(from)
  const out = await mesh.cli(n.host, ['bundle', 'send', '--dir', n.dir, '--to', to, '--ttl', '600', '--data', data, '--json'])
  return (JSON.parse(out) as { bundle_id: string }).bundle_id
}

/**
 * The same two requests through the node's admin API directly (the agent), for a scenario whose
 * timing matters more than the command's start-up: sends during a 30 s cut on a loaded machine.
 */
export async function publishSignatureViaApi (mesh: LabMesh, nodeId: string, value: string): Promise<string> {
  const r = await mesh.node(nodeId).agent.post<{ message_id: string }>('/v1/mesh/gossip', { type: 'lab', value })
  return r.message_id
}

export async function sendBundleViaApi (mesh: LabMesh, from: string, to: string, data: string): Promise<string> {
  const r = await mesh.node(from).agent.post<{ bundle_id: string }>('/v1/bundles', { destination: to, ttl_sec: 600, payload: Buffer.from(data).toString('base64') })
  return r.bundle_id
}

export async function revoke (mesh: LabMesh, nodeId: string): Promise<void> {
  await mesh.cli(mesh.caHost, ['ca', 'revoke', '--dir', mesh.caDir, '--node-id', nodeId, '--reason', 'keyCompromise'])
}

/** How many rows of `nodeId`'s gossip store carry `messageId` (0 or 1: the store is keyed by it). */
export async function gossipCopies (mesh: LabMesh, nodeId: string, messageId: string): Promise<number> {
  const rows = await mesh.node(nodeId).agent.get<Array<{ message_id: string }>>('/v1/mesh/gossip?limit=1000')
  return rows.filter(r => r.message_id === messageId).length
}

/**
 * How often `bundleId` was delivered at `nodeId`: its inbox rows, and its "bundle delivered" log
 * lines (one per delivery event, so a second delivery of the same bundle would show here).
 */
export async function deliveries (mesh: LabMesh, nodeId: string, bundleId: string): Promise<{ inbox: number, logged: number }> {
  const listing = await mesh.node(nodeId).agent.get<{ inbox: Array<{ bundle_id: string }> }>('/v1/bundles?limit=1000')
  return {
    inbox: listing.inbox.filter(r => r.bundle_id === bundleId).length,
    logged: mesh.logLines(nodeId, 'bundle delivered').filter(l => l.bundle_id === bundleId).length
  }
}
