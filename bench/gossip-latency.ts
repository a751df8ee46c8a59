import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { quic } from '@chainsafe/libp2p-quic'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createLibp2p } from 'libp2p'
import { MemoryLevel } from 'memory-level'
import { ANOMALY_TOPIC, ANOMALY_WIRE_VERSION, encodeEnvelope, encodePayload } from '../protocols/anomaly-gossip/index.ts'
import { createCsr } from '../src/ca/csr-builder.ts'
import { MeshCa } from '../src/ca/index.ts'
import { MIN_SCRYPT_LOG_N } from '../src/identity/key-file.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../src/identity/software-key.ts'
import { createMeshNode } from '../src/node/index.ts'
import { ChainVerifier } from '../src/pki/chain-verifier.ts'
import { wrapStore } from '../src/store/mesh-store.ts'
import { pemToDerAll } from '../src/util/pem.ts'
import type { BenchResult } from './types.ts'
import type { MeshNode } from '../src/node/index.ts'
import type { RootDb } from '../src/store/mesh-store.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p, PrivateKey } from '@libp2p/interface'

/**
 * Gossip latency benchmark: end-to-end publish-to-delivery latency on a 20-node QUIC mesh, with our
 * validator, next to plain gossipsub without it, same topology and same load, in the same run.
 *
 * - mesh: `createMeshNode` with gossip on: the auth protocol on every link, gossipsub with the
 * mesh options (StrictNoSign, origin-signed envelopes, msgIdFn, scoring), the anomaly validator (chain check on a warm
 * ChainVerifier, seen index), and delivery = the signature in the node's anomaly store (the
 * store's `anomaly` event: the record is in the store's memory and the batch that writes it is
 * queued; see src/store/anomaly-store.ts). Published with `node.publishAnomaly`.
 * - plain: libp2p with QUIC, identify and @libp2p/gossipsub with its defaults (StrictSign, no
 * topic validator, no scoring); delivery = gossipsub's `message` event. Each message carries an
 * envelope of the same size as the mesh's, so both move the same bytes.
 * Both on the same random graph (a ring plus two random chords per node, seeded), each node on
 * its own 127.0.0.x. Rounds alternate between the two, so machine noise hits both alike.
 * Latency per (message, receiving node), in one process on one clock. Bounded: MESSAGES per
 * variant at RATE per second (p99 over 5,700 latencies, so a handful of slow ones do not decide
 * it), a deadline per round, after an unmeasured warm-up round.
 */
const NODES = 20
const MESSAGES = 300
const ROUNDS = 6
const RATE = 5
const ROUND_DEADLINE_MS = 30_000

interface Variant {
  name: string
  publish(from: number, seq: number): Promise<void>
  /** Called per delivery: (seq, node index). */
  onDeliver(cb: (seq: number, node: number) => void): void
  stop(): Promise<void>
}

/** A seeded graph: ring edges plus two random chords per node. */
function graph (n: number): Array<[number, number]> {
  let seed = 0x5eed
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
  const edges = new Set<string>()
  for (let i = 0; i < n; i++) { edges.add(`${i}-${(i + 1) % n}`) }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 2; k++) {
      const j = Math.floor(rnd() * n)
      if (j !== i && !edges.has(`${j}-${i}`)) { edges.add(`${i}-${j}`) }
    }
  }
  return [...edges].map(e => e.split('-').map(Number) as [number, number])
}

interface Member { hostKey: PrivateKey, chain: Uint8Array[], identity: Awaited<ReturnType<typeof softwareKeyFromPkcs8>>, nodeId: string }

async function enrollAll (ca: MeshCa): Promise<Member[]> {
  const out: Member[] = []
  for (let i = 0; i < NODES; i++) {
    const hostKey = await generateKeyPair('Ed25519')
    const identity = await softwareKeyFromPkcs8(`bench-${i}`, 'P-256', await generatePkcs8('P-256'), false)
    const nodeId = `bench-${i}`
    const csr = await createCsr(identity, { nodeId, peerId: peerIdFromPrivateKey(hostKey).toString() })
    const issued = await ca.issue({ csr, now: new Date(Date.now() - 3_600_000), nodeId })
    out.push({ hostKey, chain: [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')], identity, nodeId })
  }
  return out
}

async function meshVariant (ca: MeshCa, members: Member[], edges: Array<[number, number]>): Promise<Variant> {
  const nodes: MeshNode[] = []
  for (let i = 0; i < NODES; i++) {
    const m = members[i]
    nodes.push(await createMeshNode({
      privateKey: m.hostKey,
      credentials: { chain: m.chain, signer: { algorithm: 'P-256', spki: m.identity.publicKeySpki, sign: async (d) => m.identity.sign(d) } },
      chainVerifier: new ChainVerifier({ roots: [ca.rootCertificate.der], intermediates: [ca.issuingCertificate.der] }),
      store: wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb),
      options: {
        listen: [`/ip4/127.0.0.${30 + i}/udp/0/quic-v1`],
        transports: { quic: true, tcp: false },
        mdns: { enabled: false },
        dht: { enabled: false },
        discovery: { dialDiscovered: false },
        // QUIC dials leave from 127.0.0.1: every inbound peer would share one IP for P6.
        gossip: { ipColocationFactorWeight: 0, sweepIntervalMs: 0 }
      }
    }))
  }
  for (const [a, b] of edges) { await nodes[a].dial(nodes[b].getMultiaddrs()[0]) }
  const ids = new Map<string, number>()
  const listeners: Array<(seq: number, node: number) => void> = []
  nodes.forEach((n, i) => {
    n.addEventListener('anomaly', (e) => {
      const seq = ids.get(e.detail.message_id)
      if (seq != null && e.detail.source === 'gossip') { for (const l of listeners) { l(seq, i) } }
    })
  })
  await settle(() => nodes.every(n => (n.gossip?.pubsub as GossipSub & { getMeshPeers(t: string): string[] }).getMeshPeers(ANOMALY_TOPIC).length >= 2))
  return {
    name: 'mesh (auth + our validator + store)',
    async publish (from, seq) {
      // The id is known before publishing: a receiver may store the message before our publish resolves.
      const idSuffix = randomUUID()
      ids.set(`${members[from].nodeId}:${idSuffix}`, seq)
      await nodes[from].publishAnomaly({ type: 'sha256', value: seq.toString(16).padStart(64, '0'), meta: { rule: 'r-17', score: 7 } }, { idSuffix })
    },
    onDeliver (cb) { listeners.push(cb) },
    async stop () { await Promise.all(nodes.map(async n => { await n.stop() })) }
  }
}

async function plainVariant (members: Member[], edges: Array<[number, number]>, envelopeBytes: number): Promise<Variant> {
  const nodes: Array<Libp2p<{ pubsub: GossipSub }>> = []
  for (let i = 0; i < NODES; i++) {
    nodes.push(await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: [`/ip4/127.0.0.${60 + i}/udp/0/quic-v1`] },
      transports: [quic()],
      services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) as any }
    }) as unknown as Libp2p<{ pubsub: GossipSub }>)
  }
  void members
  for (const n of nodes) { n.services.pubsub.subscribe(ANOMALY_TOPIC) }
  for (const [a, b] of edges) { await nodes[a].dial(nodes[b].getMultiaddrs()[0]) }
  const listeners: Array<(seq: number, node: number) => void> = []
  nodes.forEach((n, i) => {
    n.services.pubsub.addEventListener('message', (e) => {
      const d = e.detail.data
      const seq = (d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3]) >>> 0
      for (const l of listeners) { l(seq, i) }
    })
  })
  await settle(() => nodes.every(n => (n.services.pubsub as GossipSub & { getMeshPeers(t: string): string[] }).getMeshPeers(ANOMALY_TOPIC).length >= 2))
  return {
    name: 'plain gossipsub (no validator)',
    async publish (from, seq) {
      const data = new Uint8Array(envelopeBytes)
      data.set([seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff])
      await nodes[from].services.pubsub.publish(ANOMALY_TOPIC, data)
    },
    onDeliver (cb) { listeners.push(cb) },
    async stop () { await Promise.all(nodes.map(async n => { await n.stop() })) }
  }
}

/** Waits (bounded, 30 s) for a condition with no event of its own: meshes form on heartbeats. */
async function settle (check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!check()) {
    if (Date.now() > deadline) { throw new Error('gossip meshes did not form in 30 s') }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** One round: `count` messages at RATE/s from rotating publishers; returns latencies, ms. */
async function round (v: Variant, firstSeq: number, count: number, sent: Map<number, number>, got: Map<number, number[]>): Promise<void> {
  const t0 = performance.now()
  for (let k = 0; k < count; k++) {
    const seq = firstSeq + k
    const wait = t0 + k * (1000 / RATE) - performance.now()
    if (wait > 0) { await new Promise(resolve => setTimeout(resolve, wait)) }
    sent.set(seq, performance.now())
    await v.publish(seq % NODES, seq)
  }
  const deadline = Date.now() + ROUND_DEADLINE_MS
  const done = (): boolean => { for (let k = 0; k < count; k++) { if ((got.get(firstSeq + k)?.length ?? 0) < NODES - 1) { return false } } return true }
  while (!done() && Date.now() < deadline) { await new Promise(resolve => setTimeout(resolve, 50)) }
}

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

export async function benchGossipLatency (): Promise<BenchResult[]> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-latency-'))
  const ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: 'bench', now: new Date(Date.now() - 86_400_000), scryptLogN: MIN_SCRYPT_LOG_N })
  const variants: Variant[] = []
  try {
    const members = await enrollAll(ca)
    const edges = graph(NODES)
    // The size of a published envelope (delegation signature: DER ECDSA P-256 at its longest).
    const sample = encodeEnvelope({
      v: ANOMALY_WIRE_VERSION,
      message_id: `bench-0:${'0'.repeat(36)}`,
      origin: 'bench-0',
      timestamp: 0,
      expiry: 3_600_000,
      payload: encodePayload({ type: 'sha256', value: '0'.repeat(64), meta: { rule: 'r-17', score: 7 } }),
      origin_cert: members[0].chain.slice(0, 2),
      delegation: { key: new Uint8Array(32), nbf: 0, exp: 3_600_000, sig: new Uint8Array(72) },
      sig: new Uint8Array(64)
    })
    variants.push(await meshVariant(ca, members, edges), await plainVariant(members, edges, sample.byteLength))
    const stats = variants.map(() => ({ sent: new Map<number, number>(), got: new Map<number, number[]>() }))
    variants.forEach((v, i) => {
      v.onDeliver((seq, _node) => {
        const at = performance.now()
        const list = stats[i].got.get(seq) ?? []
        list.push(at)
        stats[i].got.set(seq, list)
      })
    })
    // Warm-up, not measured: one message from every node in each variant, so each node has met
    // each origin's certificate once (bench/gossip-validate.ts measures the validator with a warm
    // certificate cache too); the first message of an origin pays a cold chain validation per node.
    for (let i = 0; i < variants.length; i++) { await round(variants[i], MESSAGES, NODES, new Map(), stats[i].got) }
    const perRound = MESSAGES / ROUNDS
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < variants.length; i++) { await round(variants[i], r * perRound, perRound, stats[i].sent, stats[i].got) }
    }
    const latencies = stats.map(s => {
      const out: number[] = []
      for (const [seq, at] of s.sent) { for (const t of s.got.get(seq) ?? []) { out.push(t - at) } }
      return out
    })
    const expected = MESSAGES * (NODES - 1)
    const [mesh, plain] = latencies
    const p = (xs: number[], q: number): number => xs.length === 0 ? NaN : percentile(xs, q)
    const results: BenchResult[] = [
      { name: `plain gossipsub p50 (${NODES} nodes, ${edges.length} links, ${plain.length}/${expected} deliveries)`, value: p(plain, 0.5), unit: 'ms' },
      { name: 'plain gossipsub p99', value: p(plain, 0.99), unit: 'ms' },
      { name: `mesh + validator p50 (${mesh.length}/${expected} deliveries)`, value: p(mesh, 0.5), unit: 'ms', baseline: 'plain gossipsub p50', ratio: p(mesh, 0.5) / p(plain, 0.5), goal: 'info: the goal is on p99' },
      { name: 'mesh + validator p99', value: p(mesh, 0.99), unit: 'ms', baseline: 'plain gossipsub p99', ratio: p(mesh, 0.99) / p(plain, 0.99), goal: '<= 1.3', met: p(mesh, 0.99) / p(plain, 0.99) <= 1.3 && mesh.length === expected }
    ]
    return results
  } finally {
    for (const v of variants) { await v.stop().catch(() => {}) }
    await ca.close()
    await rm(base, { recursive: true, force: true })
  }
}
