import { prefixLogger } from '@libp2p/logger'
import { MemoryLevel } from 'memory-level'
import { ANOMALY_TOPIC } from '../../protocols/anomaly-gossip/index.ts'
import { CRL_TOPIC } from '../../protocols/crl-gossip/index.ts'
import { createMeshNode } from '../../src/node/index.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { ChainVerifier } from '../../src/pki/chain-verifier.ts'
import { wrapStore } from '../../src/store/mesh-store.ts'
import { eventually, now } from './fixtures.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { MeshGossip, MeshNode, MeshNodeConfig, MeshNodeInit } from '../../src/node/index.ts'
import type { MeshStore, RootDb } from '../../src/store/mesh-store.ts'
import type { GossipSub } from '@libp2p/gossipsub'

/**
 * Mesh nodes with gossip on, for the gossip suites: real QUIC on loopback, each node on its own
 * 127.0.0.x address (so gossipsub's IP-colocation penalty never applies and the mesh default
 * weight stays), the node's one ChainVerifier for auth, gossip and CRLs, an in-memory store.
 */

/** Public methods of the gossipsub class that its exported interface leaves out. */
export type GossipSubClass = GossipSub & { getMeshPeers(topic: string): string[], getScore(peerId: string): number }

export interface GossipNode {
  name: string
  node: MeshNode
  enrolled: Enrolled
  verifier: ChainVerifier
  gossip: MeshGossip
  pubsub: GossipSubClass
  peerId: string
  /** Its store: a restart over the same one keeps what the node wrote (anomalies, the seen index). */
  store: MeshStore
  /** What `startGossipNode` started it with, for a restart; absent on nodes built otherwise. */
  started?: GossipNodeOptions
}

/** The ChainVerifier a node of `tca` runs: its root, its issuing CA. */
export function chainVerifierFor (tca: TestCa): ChainVerifier {
  return new ChainVerifier({ roots: [tca.root], intermediates: [parseCertificate(tca.ca.issuingCertificate.der)] })
}

export interface GossipNodeOptions {
  /** Last octet of its 127.0.0.x address. */
  host: number
  options?: MeshNodeConfig
  init?: Partial<MeshNodeInit>
}

/** Starts a gossiping mesh node for `enrolled`, trusting `tca`, on 127.0.0.`host`. */
export async function startGossipNode (name: string, enrolled: Enrolled, tca: TestCa, o: GossipNodeOptions): Promise<GossipNode> {
  const verifier = chainVerifierFor(tca)
  const store = o.init?.store ?? wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb)
  const node = await createMeshNode({
    privateKey: enrolled.hostKey,
    credentials: enrolled.credentials,
    chainVerifier: verifier,
    store,
    now,
    logger: prefixLogger(name),
    ...o.init,
    options: {
      listen: [`/ip4/127.0.0.${o.host}/udp/0/quic-v1`],
      transports: { quic: true, tcp: false },
      mdns: { enabled: false },
      // Topology is what each test dials; the DHT has suites of its own.
      dht: { enabled: false },
      discovery: { dialDiscovered: false },
      ...o.options,
      gossip: { enabled: true, sweepIntervalMs: 0, ...o.options?.gossip }
    }
  })
  const gossip = node.gossip as MeshGossip
  return { name, node, enrolled, verifier, gossip, pubsub: gossip.pubsub as GossipSubClass, peerId: node.peerId.toString(), store, started: o }
}

/**
 * Stops `n` and starts it again with the same identity, address and store: what it wrote
 * survives, everything gossipsub held in memory (seen ids, delivery records, scores) is gone.
 * Its links are not redialled.
 */
export async function restartGossipNode (n: GossipNode, tca: TestCa): Promise<GossipNode> {
  if (n.started == null) { throw new Error(`${n.name} was not started by startGossipNode`) }
  await n.node.stop()
  return startGossipNode(n.name, n.enrolled, tca, { ...n.started, init: { ...n.started.init, store: n.store } })
}

/** Dials b from a and waits for the authenticated link. */
export async function link (a: GossipNode, b: GossipNode): Promise<void> {
  await a.node.dial(b.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
}

/** True when a and b have each other in their mesh of `topic`. */
export function meshed (a: GossipNode, b: GossipNode, topic = ANOMALY_TOPIC): boolean {
  return a.pubsub.getMeshPeers(topic).includes(b.peerId) && b.pubsub.getMeshPeers(topic).includes(a.peerId)
}

/** Waits (bounded) until every pair is in both topic meshes (grafting happens on heartbeats). */
export async function waitMeshed (pairs: Array<[GossipNode, GossipNode]>, ms = 20_000): Promise<void> {
  await eventually(() => pairs.every(([a, b]) => meshed(a, b, ANOMALY_TOPIC) && meshed(a, b, CRL_TOPIC)), ms)
}

/** Stops them all, in parallel. */
export async function stopAll (nodes: Array<GossipNode | undefined>): Promise<void> {
  await Promise.all(nodes.map(async n => { await n?.node.stop() }))
}
