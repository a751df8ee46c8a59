import { yamux } from '@chainsafe/libp2p-yamux'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tls } from '@libp2p/tls'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { IDONTWANT_MIN_BYTES } from '../../protocols/mesh-gossipsub/index.ts'
import { countingRegister, newCounters } from './gossip-counters.ts'
import { SIM_CONNECTION_LIMITS, simListen, simTransports } from './libp2p-parts.ts'
import { decodeSimPayload, encodeSimPayload } from './sim-payload.ts'
import type { GossipCounters } from './gossip-counters.ts'
import type { NodeHooks, SimAdapter, SimContext, SimNode } from './types.ts'
import type { NodeMaterial } from '../pki/sim-pki.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'

/** The baseline's topic. */
export const PLAIN_TOPIC = 'dadm-sim/plain/1'

/**
 * The baseline: plain @libp2p/gossipsub with its defaults (StrictSign, D = 6, 1 s heartbeat) on
 * the same transport, link model and topology as the mesh, with TLS 1.3 + yamux as the mesh
 * has them, but no mesh auth protocol, no certificates, no envelope validator and no store.
 */
export function plainGossipAdapter (): SimAdapter {
  return {
    name: 'plain',
    create: async (m, ctx, hooks) => PlainNode.create(m, ctx, hooks)
  }
}

class PlainNode implements SimNode {
  readonly index: number
  private readonly libp2p: Libp2p<{ pubsub: GossipSub }>
  private readonly ctx: SimContext
  private readonly c: GossipCounters

  private constructor (index: number, libp2p: Libp2p<{ pubsub: GossipSub }>, ctx: SimContext, counters: GossipCounters) {
    this.index = index
    this.libp2p = libp2p
    this.ctx = ctx
    this.c = counters
  }

  static async create (m: NodeMaterial, ctx: SimContext, hooks: NodeHooks): Promise<PlainNode> {
    const counters = newCounters()
    const libp2p = await createLibp2p({
      privateKey: privateKeyFromProtobuf(m.hostKey),
      logger: ctx.logger,
      start: false,
      addresses: { listen: [simListen(ctx, m.index)] },
      transports: simTransports(ctx),
      connectionEncrypters: [tls()],
      streamMuxers: [yamux()],
      connectionManager: {
        maxConnections: SIM_CONNECTION_LIMITS.maxConnections,
        maxIncomingPendingConnections: SIM_CONNECTION_LIMITS.maxIncomingPendingConnections,
        inboundConnectionThreshold: SIM_CONNECTION_LIMITS.inboundConnectionThreshold,
        dialTimeout: SIM_CONNECTION_LIMITS.dialTimeoutMs,
        inboundUpgradeTimeout: SIM_CONNECTION_LIMITS.inboundUpgradeTimeoutMs
      },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          emitSelf: false,
          allowPublishToZeroTopicPeers: true,
          // The mesh's gossipsub choice that changes what goes on the wire (not a security one):
          // the baseline differs from the mesh only by auth and the envelope validator.
          idontwantMinDataSize: IDONTWANT_MIN_BYTES,
          metricsRegister: countingRegister(counters),
          metricsTopicStrToLabel: new Map([[PLAIN_TOPIC, 'plain']])
        }) as any
      }
    })
    const node = new PlainNode(m.index, libp2p as any, ctx, counters)
    const pubsub = libp2p.services.pubsub as GossipSub
    pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic !== PLAIN_TOPIC) { return }
      const id = decodeSimPayload(evt.detail.data)
      if (id != null) { hooks.deliver(id) }
    })
    return node
  }

  get running (): boolean {
    return this.libp2p.status === 'started'
  }

  async start (): Promise<void> {
    await this.libp2p.start()
    this.libp2p.services.pubsub.subscribe(PLAIN_TOPIC)
  }

  async stop (): Promise<void> {
    await this.libp2p.stop()
  }

  address (): string {
    return this.ctx.transport === 'memory' ? this.ctx.directory.dialAddress(this.index) : this.libp2p.getMultiaddrs()[0].toString()
  }

  async dial (_target: number, address: string, signal: AbortSignal): Promise<void> {
    await this.libp2p.dial(multiaddr(address), { signal })
  }

  async publish (simId: string): Promise<number> {
    const data = encodeSimPayload(simId, this.ctx.payloadBytes)
    await this.libp2p.services.pubsub.publish(PLAIN_TOPIC, data)
    return data.byteLength
  }

  meshPeers (): number {
    return (this.libp2p.services.pubsub as any).getMeshPeers?.(PLAIN_TOPIC)?.length ?? 0
  }

  connections (): number {
    return this.libp2p.getConnections().length
  }

  counters (): GossipCounters {
    return { ...this.c }
  }
}
