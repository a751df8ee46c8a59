import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BundleService } from '../protocols/bundle/bundle-service.ts'
import { BundleAgent } from '../src/dtn/bundle-agent.ts'
import { createMeshNode } from '../src/node/create-mesh-node.ts'
import { BundleStore } from '../src/dtn/store/bundle-store.ts'
import { openStore } from '../src/store/mesh-store.ts'
import type { IdentitySigner } from '../protocols/auth/types.ts'
import type { SourceVerifier } from '../src/dtn/verify-bundle.ts'
import type { MeshNode } from '../src/node/mesh-node.ts'
import type { PeerCertificateVerifier } from '../src/pki/peer-verifier.ts'
import type { MeshStore } from '../src/store/mesh-store.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

/**
 * The DTN drain figure over a real link: node B holds a backlog of bundles for node C, which
 * is offline; C starts, B dials it, and the backlog crosses `/dadm-mesh/bundle/1.0.0` on QUIC
 * loopback with custody acknowledgements (C verifies and syncs each before its ACK, B releases
 * each after it). Timed from the dial to the last delivery at C with B's store empty.
 */

export interface QuicMember {
  nodeId: string
  hostKey: Ed25519PrivateKey
  signer: IdentitySigner
  chain: Uint8Array[]
}

interface Running { node: MeshNode, agent: BundleAgent, service: BundleService, mesh: MeshStore }

async function run (m: QuicMember, dir: string, verifier: PeerCertificateVerifier, sources: SourceVerifier, now: () => number): Promise<Running> {
  const mesh = await openStore(join(dir, m.nodeId))
  const agent = await BundleAgent.open({ store: await BundleStore.open(mesh, { quotaBytes: 1 << 30 }), self: m.nodeId, credentials: m, sources, now })
  const node = await createMeshNode({
    privateKey: m.hostKey,
    credentials: { chain: m.chain, signer: m.signer },
    verifier,
    now,
    options: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false }, dht: { enabled: false }, gossip: { enabled: false } } as any
  })
  const service = new BundleService({ node, agent })
  await service.start()
  return { node, agent, service, mesh }
}

async function stop (r: Running): Promise<void> {
  await r.service.stop()
  await r.node.stop()
  await r.agent.store.close()
  await r.mesh.close()
}

/** Fills B with `count` bundles for C (C offline), starts C, dials: bundles per second delivered. */
export async function drainOverQuic (b: QuicMember, c: QuicMember, count: number, verifier: PeerCertificateVerifier, sources: SourceVerifier, now: () => number): Promise<{ rate: number, delivered: number, ms: number }> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-quic-'))
  const running: Running[] = []
  try {
    const rb = await run(b, base, verifier, sources, now)
    running.push(rb)
    for (let i = 0; i < count; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, count - i) }, async (_, j) =>
        rb.agent.send({ destination: c.nodeId, ttlSec: 3600, payload: new Uint8Array(256).fill((i + j) & 0xff) })))
    }
    const rc = await run(c, base, verifier, sources, now)
    running.push(rc)
    let delivered = 0
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`drain stalled at ${delivered} of ${count}`)) }, 120_000)
      rc.agent.addEventListener('bundle:delivered', () => {
        if (++delivered === count) { clearTimeout(timer); resolve() }
      })
    })
    const t0 = performance.now()
    await rb.node.dial(rc.node.getMultiaddrs()[0])
    await done
    // custody released at B too (its last ACKs may land just after C's last delivery)
    for (let i = 0; i < 1000 && rb.agent.store.outboundCount > 0; i++) { await new Promise(resolve => setTimeout(resolve, 5)) }
    const ms = performance.now() - t0
    return { rate: count / (ms / 1000), delivered, ms }
  } finally {
    for (const r of running.reverse()) { await stop(r).catch(() => {}) }
    await rm(base, { recursive: true, force: true })
  }
}
