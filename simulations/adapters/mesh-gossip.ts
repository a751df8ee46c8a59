import { randomBytes } from 'node:crypto'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { ANOMALY_TOPIC, ANOMALY_WIRE_VERSION, encodeEnvelope, encodePayload } from '../../protocols/anomaly-gossip/index.ts'
import { softwareKeyFromPkcs8 } from '../../src/identity/software-key.ts'
import { createMeshNode } from '../../src/node/index.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { ChainVerifier } from '../../src/pki/chain-verifier.ts'
import { wrapStore } from '../../src/store/mesh-store.ts'
import { countingRegister, newCounters } from './gossip-counters.ts'
import { SIM_CONNECTION_LIMITS, SIM_PREAUTH_LIMITS, simListen, simTransports } from './libp2p-parts.ts'
import { sendDuplicates } from './raw-gossip.ts'
import { SimDtn, deliveryPathOf } from './sim-dtn.ts'
import { SimRotation } from './sim-rotation.ts'
import type { GossipCounters } from './gossip-counters.ts'
import type { NodeHooks, SimAdapter, SimContext, SimNode } from './types.ts'
import type { MeshGossip } from '../../src/node/gossip-services.ts'
import type { MeshNode, MeshNodeConfig } from '../../src/node/index.ts'
import type { RootDb } from '../../src/store/mesh-store.ts'
import type { NodeMaterial, TrustMaterial } from '../pki/sim-pki.ts'

/**
 * The mesh under test: `createMeshNode` (auth protocol, gater, peer table, revocation
 * enforcement) with gossipsub as the mesh configures it (`meshGossipsubOptions`: StrictNoSign,
 * membership score, mesh msgIdFn), the anomaly and CRL gossip services with their validators,
 * a real LevelDB anomaly store per node (a sublevel of the shard's one LevelDB) and ChainVerifiers
 * on the run's real CA.
 *
 * Gossip comes from the node itself (`createMeshNode` with `chainVerifier` and `store`, the wiring a
 * node process uses); this file only adds the counting metrics register through the node's gossipsub hook,
 * listens to the anomaly store and the CRL service, and drives publishes, CRLs and floods.
 */
export function meshGossipAdapter (): SimAdapter {
  let shared: ChainVerifier | undefined
  return {
    name: 'mesh',
    create: async (m, ctx, hooks) => {
      const verifier = ctx.verifier === 'shared' ? (shared ??= chainVerifierFor(ctx.trust)) : chainVerifierFor(ctx.trust)
      return MeshSimNode.create(m, ctx, hooks, verifier)
    }
  }
}

function chainVerifierFor (trust: TrustMaterial): ChainVerifier {
  return new ChainVerifier({ roots: [trust.root], intermediates: [parseCertificate(trust.issuing)] })
}

class MeshSimNode implements SimNode {
  readonly index: number
  private readonly node: MeshNode
  private readonly ctx: SimContext
  private readonly c: GossipCounters
  private readonly material: NodeMaterial
  private readonly sent: Uint8Array[] = []
  private size?: number
  /** Certificate rotation, when the scenario asks for it (adapters/sim-rotation.ts). */
  private rotation?: SimRotation
  /** The node process's DTN layer, when the scenario turns it on (adapters/sim-dtn.ts). */
  private dtn?: SimDtn

  private constructor (m: NodeMaterial, node: MeshNode, ctx: SimContext, counters: GossipCounters) {
    this.index = m.index
    this.material = m
    this.node = node
    this.ctx = ctx
    this.c = counters
  }

  static async create (m: NodeMaterial, ctx: SimContext, hooks: NodeHooks, verifier: ChainVerifier): Promise<MeshSimNode> {
    const identity = await softwareKeyFromPkcs8(`${m.nodeId}-identity`, 'P-256', m.identityPkcs8, false)
    const signer = { algorithm: identity.algorithm, spki: identity.publicKeySpki, sign: async (d: Uint8Array) => identity.sign(d) }
    // The node's MeshStore: a sublevel of the shard's one LevelDB (one store per process, as in
    // the node design), so the anomaly store's own sublevels nest under it.
    const store = wrapStore((ctx.db as any).sublevel(`n${m.index}`, { keyEncoding: 'utf8', valueEncoding: 'json' }) as RootDb)
    const counters = newCounters()
    const hostKey = privateKeyFromProtobuf(m.hostKey)
    const rotation = ctx.rotation != null ? await SimRotation.create(m, ctx.rotation) : undefined
    const node = await createMeshNode({
      privateKey: hostKey,
      // Rotating: the CredentialSet's current pair (read per handshake) on the run clock.
      credentials: rotation != null ? rotation.credentials.credentials : { chain: m.chain, signer },
      ...(rotation != null ? { now: rotation.now } : {}),
      chainVerifier: verifier,
      store,
      gossip: { gossipsub: { metricsRegister: countingRegister(counters), metricsTopicStrToLabel: new Map([[ANOMALY_TOPIC, 'anomaly']]) } },
      options: meshOptions(ctx, m.index),
      logger: ctx.logger,
      start: false,
      ...(ctx.transport === 'memory' ? { extraTransports: simTransports(ctx) } : {})
    })
    node.gossip?.crl.addEventListener('crl:accepted', () => { hooks.crlInstalled?.() })
    node.gossip?.anomalies.addEventListener('anomaly', (evt) => {
      const sim = evt.detail.payload.meta?.sim
      // source 'gossip' covers signatures carried in bundles too (dtn-carry.ts stores them so)
      if (evt.detail.source === 'gossip' && typeof sim === 'string') { hooks.deliver(sim, ctx.dtn != null ? deliveryPathOf(evt.detail) : undefined) }
    })
    const simNode = new MeshSimNode(m, node, ctx, counters)
    if (ctx.dtn != null) {
      const credentials = rotation != null ? rotation.credentials.credentials : () => ({ chain: m.chain, signer })
      simNode.dtn = new SimDtn({ node, store, nodeId: m.nodeId, credentials, chainVerifier: verifier, trust: ctx.trust, spec: ctx.dtn, now: rotation?.now ?? Date.now })
    }
    if (rotation != null) {
      rotation.attach(node)
      simNode.rotation = rotation
    }
    return simNode
  }

  private get gossip (): MeshGossip {
    if (this.node.gossip == null) { throw new Error('mesh node without gossip') }
    return this.node.gossip
  }

  get running (): boolean {
    return this.node.status === 'started'
  }

  async start (): Promise<void> {
    // before the node starts, as a node process does: the bundle handler is there for the first link
    await this.dtn?.start()
    await this.node.start()
    this.rotation?.start()
  }

  async stop (): Promise<void> {
    await this.rotation?.stop()
    await this.dtn?.stop()
    await this.node.stop()
  }

  dtnStats (): ReturnType<NonNullable<SimNode['dtnStats']>> | undefined {
    if (this.dtn == null) { return undefined }
    const s = this.dtn.stats()
    return { carried: s.anomaliesSent, accepted: s.anomaliesAccepted, refused: s.refused, held: this.dtn.held }
  }

  address (): string {
    return this.ctx.transport === 'memory' ? this.ctx.directory.dialAddress(this.index) : this.node.getMultiaddrs()[0].toString()
  }

  async dial (_target: number, address: string, signal: AbortSignal): Promise<void> {
    await this.node.dial(address, { signal })
  }

  async publish (simId: string): Promise<number> {
    const r = await this.node.publishAnomaly({ type: 'sha256', value: randomBytes(32).toString('hex'), meta: { sim: simId } })
    return r.record != null ? this.envelopeSize : 0
  }

  /** Size of one envelope as published (same chain, same payload shape), computed once. */
  get envelopeSize (): number {
    this.size ??= encodeEnvelope(this.forged(this.material.nodeId)).byteLength
    return this.size
  }

  meshPeers (): number {
    return (this.gossip.pubsub as any).getMeshPeers?.(ANOMALY_TOPIC)?.length ?? 0
  }

  connections (): number {
    return this.node.libp2p.getConnections().length
  }

  isConnectedTo (peerId: string): boolean {
    return this.node.libp2p.getConnections(peerIdFromString(peerId)).length > 0
  }

  counters (): GossipCounters {
    return { ...this.c }
  }

  async offerCrl (der: Uint8Array): Promise<void> {
    // The CA's own node publishes: installs it, gossips it, pushes it to every peer.
    await this.node.publishCrl(der)
  }

  async flood (kind: 'garbage' | 'forged' | 'duplicate', count: number): Promise<number> {
    const pubsub = this.gossip.pubsub
    let sent = 0
    for (let i = 0; i < count; i++) {
      try {
        if (kind === 'garbage') {
          await pubsub.publish(ANOMALY_TOPIC, randomBytes(256))
        } else if (kind === 'forged') {
          // A well-formed envelope that names another node as its origin, under our own chain.
          const bytes = encodeEnvelope(this.forged(`sim-${(this.index + 1 + i) % this.ctx.directory.size}`))
          await pubsub.publish(ANOMALY_TOPIC, bytes)
          this.sent.push(bytes)
        } else {
          const bytes = this.sent[i % Math.max(1, this.sent.length)]
          if (bytes == null) { continue }
          sent += await sendDuplicates(this.node.libp2p, ANOMALY_TOPIC, bytes)
          continue
        }
        sent++
      } catch {
        // A publish the flooder's own gossipsub refuses (no peers left) is simply not sent.
      }
    }
    return sent
  }

  private forged (origin: string): Parameters<typeof encodeEnvelope>[0] {
    const now = Date.now()
    return {
      v: ANOMALY_WIRE_VERSION,
      message_id: `${origin}:${randomBytes(16).toString('hex')}`,
      origin,
      timestamp: now,
      expiry: now + 3600_000,
      payload: encodePayload({ type: 'sha256', value: randomBytes(32).toString('hex'), meta: { sim: 'flood' } }),
      origin_cert: this.material.chain.slice(0, 2),
      // A member that forges another's envelope has no identity or gossip key of theirs.
      delegation: { key: randomBytes(32), nbf: now - 3600_000, exp: now + 3600_000, sig: randomBytes(72) },
      sig: randomBytes(64)
    }
  }
}

/** Node options for a simulated member: no mDNS (never multicast), DHT only for cold boot. */
function meshOptions (ctx: SimContext, index: number): MeshNodeConfig {
  const coldBoot = ctx.bootstrap.length > 0
  return {
    listen: [simListen(ctx, index)],
    // Memory links ride the TCP upgrade path (TLS 1.3 + yamux); QUIC nodes use QUIC only.
    transports: { quic: ctx.transport === 'quic', tcp: ctx.transport === 'memory' },
    mdns: { enabled: false },
    dht: { enabled: coldBoot },
    // @libp2p/bootstrap refuses /memory addresses: over memory links the shard dials them instead.
    bootstrap: coldBoot && ctx.transport === 'quic' ? ctx.bootstrap.filter(a => !a.endsWith(`/p2p/${ctx.directory.peerIds[index]}`)) : [],
    discovery: { dialDiscovered: coldBoot, targetConnections: Math.max(1, ctx.targetConnections) },
    // The shard owns every dial of the plan's topology, the redial after a heal included, so a run
    // replays the same edges. The node's own redial would race the shard's for the same peers
    // (a keeper dial stuck in a cut link holds up the shard's dial behind it) and add edges the
    // plan never had. The keeper is tested on real links: test/node/keep-alive-redial.spec.ts and the WAN lab.
    keepAlive: { enabled: false },
    // NAT traversal has nothing to find on memory links in one process (no relay is public, no
    // address can be confirmed), and its services would only add load that the shard's timing
    // figures count; it is measured in the WAN lab.
    relay: { enabled: false },
    autonat: { enabled: false },
    dcutr: { enabled: false },
    connectionManager: SIM_CONNECTION_LIMITS,
    auth: { preauth: SIM_PREAUTH_LIMITS }
  }
}
