import type { GossipCounters } from './gossip-counters.ts'
import type { DeliveryPath } from './sim-dtn.ts'
import type { RotationContext } from './sim-rotation.ts'
import type { RootDb } from '../../src/store/mesh-store.ts'
import type { ShardBridge } from '../link/bridge.ts'
import type { Directory } from '../link/directory.ts'
import type { LinkFabric } from '../link/fabric.ts'
import type { NodeMaterial, TrustMaterial } from '../pki/sim-pki.ts'
import type { DtnSpec } from '../scenario/dtn-spec.ts'
import type { ComponentLogger } from '@libp2p/interface'

export type TransportKind = 'memory' | 'quic'

/** What a shard gives every node it builds. */
export interface SimContext {
  transport: TransportKind
  directory: Directory
  fabric: LinkFabric
  bridge?: ShardBridge
  trust: TrustMaterial
  /** The shard's LevelDB (one per process, as the node design has it); each node gets a sublevel. */
  db: RootDb
  logger: ComponentLogger
  /** One ChainVerifier for the whole shard, or one per node. */
  verifier: 'shared' | 'per-node'
  /** Bootstrap multiaddrs (cold boot); empty when the harness dials the topology. */
  bootstrap: string[]
  /** Dial what discovery finds, up to this many connections (cold boot); 0 disables. */
  targetConnections: number
  /** Bytes of a baseline message (the mesh envelope size, so both carry the same load). */
  payloadBytes: number
  /** The QUIC listen multiaddr of node `i` (own loopback address). */
  quicListen(i: number): string
  /** Certificate rotation on a run clock (scenario option `rotation`; mesh only). */
  rotation?: RotationContext
  /** Every node runs the DTN layer (scenario option `dtn`; mesh only; adapters/sim-dtn.ts). */
  dtn?: Required<DtnSpec>
}

/** Callbacks from a node into the shard's event log. */
export interface NodeHooks {
  /** First arrival of the message with this simulation id (what the application sees). */
  deliver(simId: string, via?: DeliveryPath): void
  /** This node installed a CRL. */
  crlInstalled?(): void
  /** This node has cut the revoked node `peerIndex` off (no connection, blocked). */
  isolated?(peerIndex: number): void
}

/** One simulated node, mesh or baseline, as the shard drives it. */
export interface SimNode {
  readonly index: number
  readonly running: boolean
  start(): Promise<void>
  stop(): Promise<void>
  /** The multiaddr others dial (with /p2p/). */
  address(): string
  /** Dials node `target` and resolves when the link is usable (authenticated, for mesh). */
  dial(target: number, address: string, signal: AbortSignal): Promise<void>
  /** Publishes one message tagged `simId`; resolves its size in bytes. */
  publish(simId: string): Promise<number>
  /** Peers in this node's gossipsub mesh for the traffic topic. */
  meshPeers(): number
  connections(): number
  counters(): GossipCounters
  /** Mesh only: hands a CA-issued CRL to this node, as a fetch from the CA would. */
  offerCrl?(der: Uint8Array): Promise<void>
  /** Mesh with DTN only: signatures this node carried in bundles, took from bundles, refused; bundles it holds. */
  dtnStats?(): { carried: number, accepted: number, refused: number, held: number } | undefined
  /** Mesh only: sends hostile traffic of one kind; resolves how many messages went out. */
  flood?(kind: 'garbage' | 'forged' | 'duplicate', count: number): Promise<number>
}

/** Builds nodes of one kind. */
export interface SimAdapter {
  readonly name: 'mesh' | 'plain'
  create(material: NodeMaterial, ctx: SimContext, hooks: NodeHooks): Promise<SimNode>
  /** Frees what the adapter shares between the nodes of a shard. */
  close?(): Promise<void>
}
