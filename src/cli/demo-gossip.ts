import { createPrivateKey } from 'node:crypto'
import { createCsr } from '../ca/csr-builder.ts'
import { nodeApiPost } from '../daemon/api/client.ts'
import { httpsRequestPinned } from '../daemon/enroll/https-json.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../identity/software-key.ts'
import { issueSessionCredential } from '../pki/session-cert.ts'
import { derToPem } from '../util/pem.ts'
import type { CaMeshPublisher } from '../daemon/ca-mesh-publisher.ts'
import type { NodeRuntime } from '../daemon/runtime/node-runtime.ts'
import type { CaService } from '../enrollment/ca-service.ts'
import type { AnomalyRecord } from '../store/anomaly-store.ts'

/** The demo's gossip half: an anomaly signature across the mesh, then a revocation and its cut-off. */

const DEADLINE_MS = 30_000
type Say = (s: string) => void

/** Resolves with the first event of `type` on `target` that `match`es, or rejects after DEADLINE_MS. */
async function nextEvent<T> (target: EventTarget, type: string, match: (d: T) => boolean): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { target.removeEventListener(type, on); reject(new Error(`no ${type} within ${DEADLINE_MS} ms`)) }, DEADLINE_MS)
    const on = (e: Event): void => {
      const d = (e as CustomEvent<T>).detail
      if (!match(d)) { return }
      clearTimeout(timer)
      target.removeEventListener(type, on)
      resolve(d)
    }
    target.addEventListener(type, on)
  })
}

/**
 * node-1's agent publishes an anomaly signature through the node's admin API (`POST
 * /v1/mesh/gossip`, as the node itself over mutual TLS); every other node's store receives it.
 */
export async function showGossip (runtimes: NodeRuntime[], say: Say): Promise<boolean> {
  const [origin, ...others] = runtimes
  const nameOf = new Map(runtimes.map(r => [r.dir.peerId, r.dir.nodeId]))
  const value = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
  const arrivals = others.map(async r => nextEvent<AnomalyRecord>(r.node, 'anomaly', a => a.payload.value === value).then(a => ({ r, a, at: performance.now() })))
  const credential = await issueSessionCredential({ signer: origin.dir.identity.signer(), nodeChain: origin.dir.chain, now: new Date(), validityMs: 60_000 })
  const t0 = performance.now()
  const published = await nodeApiPost('/v1/mesh/gossip', { type: 'sha256', value, meta: { rule: 'demo-1', score: 9 }, ttl_sec: 600 }, {
    url: origin.apiUrl as string, credential, expectedPeerId: origin.dir.peerId, roots: origin.dir.roots, intermediates: origin.dir.intermediates
  }) as { message_id: string }
  say(`${origin.dir.nodeId}: POST /v1/mesh/gossip -> 202, anomaly signature ${published.message_id}`)
  let ok = 0
  for (const { r, a, at } of await Promise.all(arrivals)) {
    if (a.message_id === published.message_id && (await r.node.anomalies.get(a.message_id)) != null) { ok++ }
    say(`  ${r.dir.nodeId}: stored ${a.payload.type}:${a.payload.value.slice(0, 12)}... from ${a.origin}, relayed by ${nameOf.get(a.relay ?? '') ?? a.relay ?? '-'}, ${(at - t0).toFixed(0)} ms after the request`)
  }
  say(`anomaly signature arrived on ${ok}/${others.length} other nodes\n`)
  return ok === others.length
}

/** An operator's admin certificate from the CA, with its key, PEM (what `ca admin-cert` hands out). */
async function adminCredential (service: CaService): Promise<{ certPem: string, keyPem: string }> {
  const pkcs8 = await generatePkcs8('P-256')
  const key = await softwareKeyFromPkcs8('demo-admin', 'P-256', pkcs8, false)
  const csrPem = derToPem(await createCsr(key, { adminName: 'demo-ops' }), 'CERTIFICATE REQUEST')
  const issued = await service.issueAdminCert({ csrPem, name: 'demo-ops' }, new Date())
  const keyPem = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string
  return { certPem: issued.certificatePem + issued.chainPem, keyPem }
}

/**
 * An operator revokes the last node (`POST /v1/revoke`, admin mutual TLS); the CA's own mesh node
 * pushes and gossips the new CRL; every other node closes its connections to it.
 */
export async function showRevocation (caUrl: string, service: CaService, publisher: CaMeshPublisher, runtimes: NodeRuntime[], say: Say): Promise<boolean> {
  const victim = runtimes[runtimes.length - 1]
  const keepers = [...runtimes.slice(0, -1).map(r => r.node), publisher.runtime.node]
  const victimId = victim.node.peerId
  const admin = await adminCredential(service)
  const linked = keepers.filter(k => k.libp2p.getConnections(victimId).length > 0).length
  const cutOff = keepers.map(async k => {
    if (k.libp2p.getConnections(victimId).length > 0) { await nextEvent<{ peerId: string }>(k, 'peer:revoked', e => e.peerId === victimId.toString()) }
  })
  const t0 = performance.now()
  const reply = await httpsRequestPinned('POST', `${caUrl}/v1/revoke`, Buffer.from(JSON.stringify({ node_id: victim.dir.nodeId, reason: 'keyCompromise' })), {
    caPem: service.ca.rootPem, clientCertPem: admin.certPem, clientKeyPem: admin.keyPem, timeoutMs: 10_000
  })
  const answered = performance.now() - t0
  say(`operator: POST /v1/revoke {node_id: ${victim.dir.nodeId}} -> ${reply.status} in ${answered.toFixed(0)} ms`)
  await Promise.all(cutOff)
  const bounded = Date.now() + DEADLINE_MS
  while (keepers.some(k => k.libp2p.getConnections(victimId).length > 0) && Date.now() < bounded) { await new Promise(resolve => setTimeout(resolve, 10)) }
  const took = performance.now() - t0
  const cut = keepers.filter(k => k.libp2p.getConnections(victimId).length === 0 && k.blockList.isBlocked(victimId.toString())).length
  for (const r of runtimes.slice(0, -1)) {
    say(`  ${r.dir.nodeId}: CRL ${r.crl.newestNumber?.toString() ?? '-'}, ${r.node.libp2p.getConnections(victimId).length} connections to ${victim.dir.nodeId}, redials blocked: ${r.node.blockList.isBlocked(victimId.toString())}`)
  }
  say(`${victim.dir.nodeId} revoked: cut off by ${cut}/${keepers.length} nodes (CA node included; ${linked} had live links to it) ${took.toFixed(0)} ms after the request\n`)
  return reply.status === 204 && cut === keepers.length
}
