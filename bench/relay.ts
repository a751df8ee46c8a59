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
import { createMeshNode, relayStatus } from '../src/node/index.ts'
import { ChainVerifier } from '../src/pki/chain-verifier.ts'
import { wrapStore } from '../src/store/mesh-store.ts'
import { pemToDerAll } from '../src/util/pem.ts'
import type { BenchResult } from './types.ts'
import type { MeshNode, MeshNodeConfig } from '../src/node/index.ts'
import type { RootDb } from '../src/store/mesh-store.ts'
import type { GossipSub } from '@libp2p/gossipsub'

/**
 * Relay benchmark: member-to-member gossip latency (publish to the signature in the receiver's
 * anomaly store) over a circuit through a member relay, next to the same over a direct QUIC
 * link, in the same run, as a ratio of p99s.
 *
 * - relayed: R serves circuit relay v2 and runs no gossip (so every message crosses the circuit,
 * not R's own gossip); A speaks QUIC only, B TCP only, so they have no direct path; B keeps a
 * reservation on R and A dials B's relayed address. The circuit is A-R over QUIC, R-B over TCP,
 * TLS 1.3 + yamux end to end inside it, mesh auth on top.
 * - direct: C and D, QUIC, one link.
 * Everything else alike: createMeshNode with gossip on, our validator and store, each node on its
 * own 127.0.0.x. Rounds alternate between the two pairs, so machine noise hits both alike;
 * MESSAGES per pair at RATE per second after an unmeasured warm-up round.
 */
const MESSAGES = 400
const ROUNDS = 8
const RATE = 20
const ROUND_DEADLINE_MS = 30_000

interface Member { hostKey: Awaited<ReturnType<typeof generateKeyPair>>, chain: Uint8Array[], identity: Awaited<ReturnType<typeof softwareKeyFromPkcs8>>, nodeId: string }

async function enrollOne (ca: MeshCa, nodeId: string): Promise<Member> {
  const hostKey = await generateKeyPair('Ed25519')
  const identity = await softwareKeyFromPkcs8(nodeId, 'P-256', await generatePkcs8('P-256'), false)
  const csr = await createCsr(identity, { nodeId, peerId: peerIdFromPrivateKey(hostKey).toString() })
  const issued = await ca.issue({ csr, now: new Date(Date.now() - 3_600_000), nodeId })
  return { hostKey, chain: [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')], identity, nodeId }
}

async function start (ca: MeshCa, m: Member, options: MeshNodeConfig): Promise<MeshNode> {
  return createMeshNode({
    privateKey: m.hostKey,
    credentials: { chain: m.chain, signer: { algorithm: 'P-256', spki: m.identity.publicKeySpki, sign: async (d) => m.identity.sign(d) } },
    chainVerifier: new ChainVerifier({ roots: [ca.rootCertificate.der], intermediates: [ca.issuingCertificate.der] }),
    store: wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb),
    options: {
      mdns: { enabled: false },
      dht: { enabled: false },
      discovery: { dialDiscovered: false },
      ...options,
      gossip: { sweepIntervalMs: 0, ...options.gossip }
    }
  })
}

interface Pair {
  name: string
  from: MeshNode
  from_: Member
  to: MeshNode
  nodes: MeshNode[]
}

/** Waits (bounded) for a condition with no event of its own (reservations, meshes form on heartbeats). */
async function settle (what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) { throw new Error(`${what} not reached in ${ms} ms`) }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

function meshed (a: MeshNode, b: MeshNode): boolean {
  const peers = (n: MeshNode): string[] => (n.gossip?.pubsub as GossipSub & { getMeshPeers(t: string): string[] }).getMeshPeers(ANOMALY_TOPIC)
  return peers(a).includes(b.peerId.toString()) && peers(b).includes(a.peerId.toString())
}

async function relayedPair (ca: MeshCa): Promise<Pair> {
  const [r, a, b] = await Promise.all(['bench-relay', 'bench-ra', 'bench-rb'].map(async id => enrollOne(ca, id)))
  const R = await start(ca, r, {
    listen: ['/ip4/127.0.0.71/udp/0/quic-v1', '/ip4/127.0.0.71/tcp/0'],
    transports: { quic: true, tcp: true },
    gossip: { enabled: false },
    relay: { server: 'on', reservations: 0 }
  })
  const A = await start(ca, a, { listen: ['/ip4/127.0.0.72/udp/0/quic-v1'], transports: { quic: true, tcp: false }, relay: { server: 'off', reservations: 0 } })
  const B = await start(ca, b, { listen: ['/ip4/127.0.0.73/tcp/0'], transports: { quic: false, tcp: true }, relay: { server: 'off', reservations: 1 } })
  const addr = (n: MeshNode, t: string): string => n.getMultiaddrs().map(String).find(x => x.includes(t) && !x.includes('/p2p-circuit')) as string
  await A.dial(addr(R, '/quic-v1'))
  await B.dial(addr(R, '/tcp/'))
  await settle('a reservation on the relay', () => relayStatus(B).relays.length > 0)
  const circuit = relayStatus(B).relayedAddrs.find(x => x.includes('/quic-v1'))
  if (circuit == null) { throw new Error('no relayed QUIC address') }
  const peer = await A.dial(circuit)
  if (peer.transport !== 'relay') { throw new Error(`A reached B over ${peer.transport}, not the relay`) }
  await settle('the gossip mesh over the circuit', () => meshed(A, B))
  return { name: 'relayed', from: A, from_: a, to: B, nodes: [R, A, B] }
}

async function directPair (ca: MeshCa): Promise<Pair> {
  const [c, d] = await Promise.all(['bench-dc', 'bench-dd'].map(async id => enrollOne(ca, id)))
  const C = await start(ca, c, { listen: ['/ip4/127.0.0.74/udp/0/quic-v1'], transports: { quic: true, tcp: false }, relay: { enabled: false } })
  const D = await start(ca, d, { listen: ['/ip4/127.0.0.75/udp/0/quic-v1'], transports: { quic: true, tcp: false }, relay: { enabled: false } })
  await C.dial(D.getMultiaddrs()[0])
  await settle('the gossip mesh over the direct link', () => meshed(C, D))
  return { name: 'direct', from: C, from_: c, to: D, nodes: [C, D] }
}

/** One round of `count` messages at RATE/s from `pair.from`; `sent`/`got` hold performance.now() times by message id. */
async function round (pair: Pair, count: number, sent: Map<string, number>, got: Map<string, number>): Promise<void> {
  const ids: string[] = []
  const t0 = performance.now()
  for (let k = 0; k < count; k++) {
    const wait = t0 + k * (1000 / RATE) - performance.now()
    if (wait > 0) { await new Promise(resolve => setTimeout(resolve, wait)) }
    const suffix = randomUUID()
    const id = `${pair.from_.nodeId}:${suffix}`
    ids.push(id)
    sent.set(id, performance.now())
    await pair.from.publishAnomaly({ type: 'sha256', value: suffix.replace(/-/g, '').padEnd(64, '0'), meta: { rule: 'bench-relay' } }, { idSuffix: suffix })
  }
  const deadline = Date.now() + ROUND_DEADLINE_MS
  while (!ids.every(id => got.has(id)) && Date.now() < deadline) { await new Promise(resolve => setTimeout(resolve, 50)) }
}

function percentile (xs: number[], p: number): number {
  if (xs.length === 0) { return NaN }
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

export async function benchRelay (): Promise<BenchResult[]> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-relay-'))
  const ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: 'bench', now: new Date(Date.now() - 86_400_000), scryptLogN: MIN_SCRYPT_LOG_N })
  const pairs: Pair[] = []
  try {
    pairs.push(await relayedPair(ca), await directPair(ca))
    const stats = pairs.map(p => {
      const s = { sent: new Map<string, number>(), got: new Map<string, number>() }
      p.to.addEventListener('anomaly', (e) => { if (e.detail.source === 'gossip') { s.got.set(e.detail.message_id, performance.now()) } })
      return s
    })
    // Warm-up: the receiver meets the sender's certificate once (a cold chain check is not the relay's cost).
    for (let i = 0; i < pairs.length; i++) { await round(pairs[i], 20, new Map(), stats[i].got) }
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < pairs.length; i++) { await round(pairs[i], MESSAGES / ROUNDS, stats[i].sent, stats[i].got) }
    }
    const [relayed, direct] = stats.map(s => [...s.sent].flatMap(([id, at]) => { const t = s.got.get(id); return t == null ? [] : [t - at] }))
    const ratio = percentile(relayed, 0.99) / percentile(direct, 0.99)
    return [
      { name: `direct QUIC link p50 (${direct.length}/${MESSAGES} delivered)`, value: percentile(direct, 0.5), unit: 'ms' },
      { name: 'direct QUIC link p99', value: percentile(direct, 0.99), unit: 'ms' },
      { name: `relayed via member relay p50 (${relayed.length}/${MESSAGES} delivered)`, value: percentile(relayed, 0.5), unit: 'ms', baseline: 'direct p50', ratio: percentile(relayed, 0.5) / percentile(direct, 0.5), goal: 'info: the goal is on p99' },
      { name: 'relayed via member relay p99', value: percentile(relayed, 0.99), unit: 'ms', baseline: 'direct p99', ratio, goal: '<= 3', met: ratio <= 3 && relayed.length === MESSAGES }
    ]
  } finally {
    for (const p of pairs) { await Promise.all(p.nodes.map(async n => { await n.stop().catch(() => {}) })) }
    await ca.close()
    await rm(base, { recursive: true, force: true })
  }
}
