import type { TransportKind } from '../adapters/types.ts'
import type { NodeMaterial, TrustMaterial } from '../pki/sim-pki.ts'
import type { Plan } from '../scenario/plan.ts'
import type { ResolvedScenario } from '../scenario/types.ts'

/** Everything a shard needs to run its part of one run (plain data: sent to shard processes). */
export interface ShardInit {
  /** Run tag, unique per adapter run (memory addresses, sockets). */
  tag: string
  /** Where the shard writes `events.<adapter>.shard<k>.ndjson`. */
  runDir: string
  /** A private temp dir for the shard's LevelDB and sockets. */
  workDir: string
  shard: number
  shards: number
  adapter: 'mesh' | 'plain'
  transport: TransportKind
  seed: string
  scenario: ResolvedScenario
  plan: Plan
  peerIds: string[]
  shardOf: number[]
  /** Material of this shard's nodes only. */
  materials: NodeMaterial[]
  trust: TrustMaterial
  /** CRL (DER) of each revoke action, by its index in `plan.actions`. */
  crls: Record<number, Uint8Array>
  /** Baseline message size in bytes. */
  payloadBytes: number
  /** Serial of every node's certificate (to name revoked nodes in events). */
  serials: string[]
  /** The run's enrollment service, when the scenario rotates certificates (mesh only). */
  rotation?: { caUrl: string }
}

/** Coordinator -> shard process. */
export type ToShard =
  | { op: 'init', init: ShardInit }
  | { op: 'bridge' }
  | { op: 'form' }
  | { op: 'warm', timeoutMs: number, minMs: number }
  | { op: 'traffic', t0: number }
  | { op: 'progress' }
  | { op: 'finish' }

/** Shard process -> coordinator. */
export type FromShard =
  | { op: 'done', step: string, info?: Record<string, number> }
  | { op: 'progress', deliveries: number, publishes: number, up: number }
  | { op: 'error', step: string, message: string, stack?: string }
