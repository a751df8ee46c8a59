import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryLevel } from 'memory-level'
import { ANOMALY_TOPIC } from '../protocols/anomaly-gossip/index.ts'
import { createCsr } from '../src/ca/csr-builder.ts'
import { MeshCa } from '../src/ca/index.ts'
import { MIN_SCRYPT_LOG_N } from '../src/identity/key-file.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../src/identity/software-key.ts'
import { createProcessRegistry } from '../src/metrics/registry.ts'
import { createMeshNode } from '../src/node/index.ts'
import { ChainVerifier } from '../src/pki/chain-verifier.ts'
import { wrapStore } from '../src/store/mesh-store.ts'
import { pemToDerAll } from '../src/util/pem.ts'
import { median } from './types.ts'
import type { BenchResult } from './types.ts'
import type { MeshNode } from '../src/node/index.ts'
import type { RootDb } from '../src/store/mesh-store.ts'
import type { Registry } from 'prom-client'

/**
 * What metrics cost gossip: anomaly signatures delivered per CPU-second across a 4-node QUIC mesh
 * (full mesh, in one process), with metrics on (libp2p's, gossipsub's and the mesh's, each node
 * its own registry with the process collectors) against the same mesh with metrics off, in the
 * same run. A scrape's cost is printed apart, per node: Prometheus pays it once per interval, not
 * per message. Rounds alternate between the two meshes, so
 * machine noise hits both alike; the figure is the median over rounds. Four registries with
 * process collectors in one process cost more than the one a node process has, so the ratio
 * errs on the side of the metrics.
 *
 * One round: node 0 publishes BURST signatures back to back and the other nodes store them (the
 * store's `anomaly` event). CPU time rather than wall time: on a shared 2-core machine the wall
 * clock measures the neighbours as much as the code.
 */
const NODES = 4
const BURST = 60
/** No delivery for this long ends a round (gossipsub drops a few messages of a burst). */
const QUIET_MS = 1000
const ROUNDS = 16
/** Renders of each node's registry timed for the scrape figure. */
const SCRAPES = 5
const ROUND_DEADLINE_MS = 60_000

interface Mesh {
  nodes: MeshNode[]
  registries: Registry[]
  stop(): Promise<void>
}

async function buildMesh (ca: MeshCa, hostBase: number, metrics: boolean): Promise<Mesh> {
  const nodes: MeshNode[] = []
  const registries: Registry[] = []
  for (let i = 0; i < NODES; i++) {
    const hostKey = await generateKeyPair('Ed25519')
    const identity = await softwareKeyFromPkcs8(`bench-m-${hostBase}-${i}`, 'P-256', await generatePkcs8('P-256'), false)
    const nodeId = `bench-m-${hostBase}-${i}`
    const csr = await createCsr(identity, { nodeId, peerId: peerIdFromPrivateKey(hostKey).toString() })
    const issued = await ca.issue({ csr, now: new Date(Date.now() - 3_600_000), nodeId })
    const registry = metrics ? createProcessRegistry() : undefined
    if (registry != null) { registries.push(registry) }
    nodes.push(await createMeshNode({
      privateKey: hostKey,
      credentials: { chain: [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')], signer: { algorithm: 'P-256', spki: identity.publicKeySpki, sign: async (d) => identity.sign(d) } },
      chainVerifier: new ChainVerifier({ roots: [ca.rootCertificate.der], intermediates: [ca.issuingCertificate.der] }),
      store: wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb),
      ...(registry != null ? { metrics: { registry } } : {}),
      options: {
        listen: [`/ip4/127.0.0.${hostBase + i}/udp/0/quic-v1`],
        transports: { quic: true, tcp: false },
        mdns: { enabled: false },
        dht: { enabled: false },
        discovery: { dialDiscovered: false },
        gossip: { ipColocationFactorWeight: 0, sweepIntervalMs: 0 }
      }
    }))
  }
  for (let a = 0; a < NODES; a++) {
    for (let b = a + 1; b < NODES; b++) { await nodes[a].dial(nodes[b].getMultiaddrs()[0]) }
  }
  await settle(() => nodes.every(n => (n.gossip?.pubsub as unknown as { getMeshPeers(t: string): string[] }).getMeshPeers(ANOMALY_TOPIC).length >= NODES - 1))
  return { nodes, registries, stop: async () => { await Promise.all(nodes.map(async n => { await n.stop() })) } }
}

/** Waits (bounded, 30 s) for a condition with no event of its own: meshes form on heartbeats. */
async function settle (check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!check()) {
    if (Date.now() > deadline) { throw new Error('gossip meshes did not form in 30 s') }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * One burst; deliveries per CPU-second of this process (user + system). Counted per delivery
 * made, so a message gossipsub drops under the burst costs both variants alike; the round ends
 * when every message is stored everywhere, or when QUIET_MS pass without a delivery.
 */
async function round (mesh: Mesh): Promise<{ rate: number, delivered: number }> {
  const want = BURST * (NODES - 1)
  const ids = new Set<string>()
  let got = 0
  let done: () => void = () => {}
  const finished = new Promise<void>(resolve => { done = resolve })
  let quiet: NodeJS.Timeout | undefined
  const rearm = (): void => { clearTimeout(quiet); quiet = setTimeout(done, QUIET_MS) }
  const listeners = mesh.nodes.slice(1).map(n => {
    const l = (e: CustomEvent<{ message_id: string, source: string }>): void => {
      if (e.detail.source !== 'gossip' || !ids.has(e.detail.message_id)) { return }
      if (++got === want) { done() } else { rearm() }
    }
    n.addEventListener('anomaly', l as any)
    return () => { n.removeEventListener('anomaly', l as any) }
  })
  const publisher = mesh.nodes[0]
  const cpu0 = process.cpuUsage()
  try {
    for (let k = 0; k < BURST; k++) {
      const published = publisher.publishAnomaly({ type: 'sha256', value: k.toString(16).padStart(64, '0'), meta: { rule: 'r-17' } }, { idSuffix: randomUUID() })
      ids.add((await published).messageId)
    }
    rearm()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([finished, new Promise((resolve, reject) => { timer = setTimeout(() => { reject(new Error(`round: ${got}/${want} deliveries in ${ROUND_DEADLINE_MS} ms`)) }, ROUND_DEADLINE_MS) })])
    clearTimeout(timer)
    clearTimeout(quiet)
    const cpu = process.cpuUsage(cpu0)
    return { rate: got / ((cpu.user + cpu.system) / 1e6), delivered: got / want }
  } finally {
    clearTimeout(quiet)
    for (const off of listeners) { off() }
  }
}

export async function benchGossipMetrics (): Promise<BenchResult[]> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-gossip-metrics-'))
  const ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: 'bench', now: new Date(Date.now() - 86_400_000), scryptLogN: MIN_SCRYPT_LOG_N })
  let on: Mesh | undefined
  let off: Mesh | undefined
  try {
    off = await buildMesh(ca, 90, false)
    on = await buildMesh(ca, 100, true)
    // Unmeasured warm-up of both (JIT, caches, gossipsub scores).
    await round(off)
    await round(on)
    const offRuns: Array<{ rate: number, delivered: number }> = []
    const onRuns: Array<{ rate: number, delivered: number }> = []
    for (let r = 0; r < ROUNDS; r++) {
      // Each goes first in every other round: a round after the other one pays its GC debt.
      if (r % 2 === 0) {
        offRuns.push(await round(off))
        onRuns.push(await round(on))
      } else {
        onRuns.push(await round(on))
        offRuns.push(await round(off))
      }
    }
    // A scrape apart: its CPU time per node, which Prometheus spends once per scrape interval.
    const scrapeMs: number[] = []
    for (let i = 0; i < SCRAPES; i++) {
      for (const r of on.registries) {
        const c0 = process.cpuUsage()
        await r.metrics()
        const c = process.cpuUsage(c0)
        scrapeMs.push((c.user + c.system) / 1000)
      }
    }
    const offRate = median(offRuns.map(x => x.rate))
    const onRate = median(onRuns.map(x => x.rate))
    // The ratio of each pair of neighbouring rounds, then their median: load that drifts over the
    // run (other processes on the machine) cancels within a pair.
    const pairRatios = onRuns.map((x, i) => x.rate / offRuns[i].rate).sort((a, b) => a - b)
    const ratio = median(pairRatios)
    const q = (p: number): string => pairRatios[Math.min(pairRatios.length - 1, Math.floor(p * pairRatios.length))].toFixed(2)
    const pct = (xs: Array<{ delivered: number }>): string => (100 * median(xs.map(x => x.delivered))).toFixed(1)
    const baseline = `gossip deliveries per CPU-second, metrics off (4-node QUIC mesh, ${pct(offRuns)}% delivered)`
    return [
      { name: baseline, value: offRate, unit: 'deliveries/cpu-s' },
      { name: `gossip deliveries per CPU-second, metrics on (libp2p + gossipsub + mesh + process collectors; ${pct(onRuns)}% delivered)`, value: onRate, unit: 'deliveries/cpu-s', baseline, ratio, goal: `>= 0.95 (median of ${ROUNDS} paired rounds; quartiles ${q(0.25)}..${q(0.75)})`, met: ratio >= 0.95 },
      { name: 'one /metrics render of a node (CPU time; Prometheus pays it once per scrape interval, 15 s by default)', value: median(scrapeMs), unit: 'ms' }
    ]
  } finally {
    await on?.stop()
    await off?.stop()
    await ca.close()
    await rm(base, { recursive: true, force: true })
  }
}
