import { join } from 'node:path'
import { nodeApiGet, nodeApiPost } from '../daemon/api/client.ts'
import { enrollNode } from '../daemon/enroll/enroll-node.ts'
import { startNodeRuntime } from '../daemon/runtime/node-runtime.ts'
import { MIN_SCRYPT_LOG_N } from '../identity/key-file.ts'
import { issueSessionCredential } from '../pki/session-cert.ts'
import type { NodeApiClientOptions } from '../daemon/api/client.ts'
import type { BundleListing } from '../daemon/runtime/dtn-listing.ts'
import type { NodeRuntime } from '../daemon/runtime/node-runtime.ts'
import type { DeliveredBundle } from '../dtn/bundle-agent.ts'
import type { CaService } from '../enrollment/ca-service.ts'

/**
 * The demo's DTN step: node-1 sends a bundle to node-6, a node that is enrolled but
 * not running; node-1 keeps it on disk and sprays copies to relays; node-6 starts, and the
 * bundle is delivered to it once. Everything through the admin APIs, as an operator would.
 */

export interface BundleDemoInit {
  service: CaService
  caUrl: string
  caPem: string
  base: string
  passphrase: string
  /** The running nodes; the first sends. */
  runtimes: NodeRuntime[]
  cleanups: Array<() => Promise<void>>
  say(s: string): void
}

const DELIVERY_DEADLINE_MS = 30_000

async function apiAs (r: NodeRuntime): Promise<NodeApiClientOptions> {
  const credential = await issueSessionCredential({ signer: r.dir.identity.signer(), nodeChain: r.dir.chain, now: new Date(), validityMs: 60_000 })
  return { url: r.apiUrl as string, credential, expectedPeerId: r.dir.peerId, roots: r.dir.roots, intermediates: r.dir.intermediates }
}

/** Runs the step; true when node-6 got the bundle exactly once. */
export async function showOfflineBundle (d: BundleDemoInit): Promise<boolean> {
  const { say } = d
  const sender = d.runtimes[0]
  // 1. node-6 is enrolled, and stays off
  const dir = join(d.base, 'node-6')
  const { token } = await d.service.createToken({ nodeId: 'node-6', ttlMs: 600_000, uses: 1 }, new Date())
  await enrollNode({ dir, caUrl: d.caUrl, caCertPem: d.caPem, token, nodeId: 'node-6', passphrase: d.passphrase, scryptLogN: MIN_SCRYPT_LOG_N })
  say('\nDTN: node-6 is enrolled but not running')

  // 2. node-1 sends it a bundle: the API answers once the bundle is on disk
  const payload = 'field report for node-6: sensor array 4 back online'
  const sent = await nodeApiPost('/v1/bundles', { destination: 'node-6', ttl_sec: 600, payload: Buffer.from(payload).toString('base64') }, await apiAs(sender)) as { bundle_id: string, expires_at: string }
  say(`node-1: POST /v1/bundles -> ${sent.bundle_id} (expires ${sent.expires_at}); node-6 is offline, so node-1 holds it`)
  // give the spray a moment: connected peers take custody of copies (binary spray-and-wait)
  await new Promise(resolve => setTimeout(resolve, 1500))
  const holders: string[] = []
  for (const r of d.runtimes) {
    if ((await r.bundles.list()).held.some(h => h.bundle_id === sent.bundle_id)) { holders.push(r.dir.nodeId) }
  }
  say(`held for node-6 by: ${holders.join(', ')}`)

  // 3. node-6 starts, knowing only node-1's address
  const t0 = Date.now()
  const r6 = await startNodeRuntime({
    dir,
    passphrase: d.passphrase,
    runFile: false,
    options: { listen: ['/ip4/127.0.0.16/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false }, bootstrap: [sender.node.getMultiaddrs()[0].toString()] }
  })
  d.cleanups.push(async () => { await r6.stop() })
  say(`started node-6 on ${r6.node.getMultiaddrs().map(String).join(' ')}`)
  const delivered = await new Promise<DeliveredBundle | undefined>(resolve => {
    const timer = setTimeout(() => { resolve(undefined) }, DELIVERY_DEADLINE_MS)
    r6.bundles.addEventListener('bundle:delivered', (evt) => {
      if (evt.detail.bundleId === sent.bundle_id) { clearTimeout(timer); resolve(evt.detail) }
    })
  })
  if (delivered == null) {
    say(`bundle ${sent.bundle_id} NOT delivered to node-6 within ${DELIVERY_DEADLINE_MS} ms`)
    return false
  }
  const ms = Date.now() - t0
  // 4. node-6's own view, through its admin API
  const api6 = await apiAs(r6)
  const listing = await nodeApiGet('/v1/bundles', api6) as BundleListing
  const one = await nodeApiGet(`/v1/bundles/${sent.bundle_id}`, api6) as { payload: string, received_from?: string, sha256: string }
  say(`node-6 (GET /v1/bundles): ${listing.inbox.length} delivered: ${listing.inbox.map(r => `${r.bundle_id} from ${r.source} via ${r.received_from ?? '-'}, ${r.size} bytes, sha256 ${r.sha256.slice(0, 16)}...`).join('; ')}`)
  say(`node-6 (GET /v1/bundles/${sent.bundle_id}): "${Buffer.from(one.payload, 'base64').toString()}"`)
  const once = listing.inbox.filter(r => r.bundle_id === sent.bundle_id).length === 1
  say(`bundle delivered to node-6 ${ms} ms after it started, ${once ? 'exactly once' : 'NOT exactly once'}`)
  return once && Buffer.from(one.payload, 'base64').toString() === payload
}
