import type { DtnSpec } from './dtn-spec.ts'
import type { TopologySpec } from '../core/topology.ts'
import type { LinkParams } from '../link/link-model.ts'

/** Where a group of nodes is named in a scenario: explicit indices, a count drawn by seed, or a fraction. */
export type NodeSelector = number[] | { count: number } | { fraction: number }

/** One timed action; `at` is ms after the traffic phase starts. */
export type TimelineAction =
  | { at: number, action: 'partition', groups: 'halves' | number[][] }
  | { at: number, action: 'heal' }
  | { at: number, action: 'kill', nodes: NodeSelector }
  | { at: number, action: 'revive', nodes?: NodeSelector }
  | { at: number, action: 'revoke', nodes: NodeSelector }
  | { at: number, action: 'link', params: Partial<LinkParams>, pair?: [number, number] }
  | { at: number, action: 'flood', durationMs: number, ratePerSec: number, kinds?: Array<'garbage' | 'forged' | 'duplicate'> }
  | { at: number, action: 'publish', count: number }

/** A scenario file (`simulations/scenarios/<name>.json`). Every field but `name` has a default. */
export interface Scenario {
  name: string
  description?: string
  /** Node count when `--nodes` is not given. @default 50 */
  nodes?: number
  topology?: TopologySpec
  /** The link model at start. @default DEFAULT_LINK (50 ms) */
  link?: Partial<LinkParams>
  /**
   * How links form. `topology`: the harness dials the topology's edges (what discovery would
   * converge to). `bootstrap`: nodes know only the first `bootstrapServers` nodes and find the
   * rest through the DHT (cold boot).
   */
  formation?: {
    mode: 'topology' | 'bootstrap'
    bootstrapServers?: number
    targetConnections?: number
    /** Apply the link model while links form too. @default false (links form at zero latency; true for cold boot) */
    measured?: boolean
  }
  /** Quiet time after the links are up, so gossipsub meshes form (heartbeat 1 s). @default 3000 */
  warmupMs?: number
  /** Length of the traffic phase. @default 10000 */
  durationMs?: number
  /** Wait after the traffic phase for the last deliveries. @default 3000 */
  drainMs?: number
  /** A node counts as an expected receiver of a message if it is up and reachable from the publisher for this long after the publish. @default 5000 */
  deliveryWindowMs?: number
  /**
   * Steady publishing during the traffic phase: `ratePerSec` messages a second, or a rate derived
   * from `deliveriesPerSec` (the load the mesh carries: rate = deliveriesPerSec / (nodes - 1)),
   * so one scenario file puts a comparable load on 20 or 1,000 nodes. @default 10 msg/s
   */
  publish?: { ratePerSec?: number, deliveriesPerSec?: number, publishers?: 'all' | number, stopBeforeEndMs?: number }
  /** Churn during the traffic phase: every `everyMs`, `fraction` of the nodes go down for `downMs`. */
  churn?: { everyMs: number, fraction: number, downMs: number }
  /** One ChainVerifier per shard (a warm cache, as a long-running node has) or one per node. @default 'shared' */
  verifier?: 'shared' | 'per-node'
  /** Also run plain gossipsub on the same topology and load. @default false (steady-gossip: true) */
  baseline?: boolean
  timeline?: TimelineAction[]
  /**
   * Certificate rotation: certificates of `certSeconds` on a run clock that runs
   * `clockSpeed` times real time during traffic; every node rotates on schedule with the real
   * lifecycle code through the real HTTPS enrollment service (adapters/sim-rotation.ts).
   */
  rotation?: RotationSpec
  /** Every mesh node runs the DTN layer (scenario/dtn-spec.ts). @default off */
  dtn?: DtnSpec
}

/** The `rotation` option of a scenario. */
export interface RotationSpec {
  /** Node certificate lifetime, seconds of the run clock. */
  certSeconds: number
  /** How much faster than real time the run clock goes during traffic. @default 1 */
  clockSpeed?: number
  /**
   * The initial certificates were issued up to this many seconds (run clock) before the run, at
   * seeded random points: a fleet that enrolled over time. 0: the whole fleet enrolled at once,
   * and only the schedule's jitter spreads the renewals. @default certSeconds / 3
   */
  enrollSpreadSeconds?: number
}

/** A scenario with every default filled in. */
export type ResolvedScenario = Required<Omit<Scenario, 'description' | 'churn' | 'rotation' | 'dtn'>> & Pick<Scenario, 'description' | 'churn'> & {
  link: LinkParams
  formation: { mode: 'topology' | 'bootstrap', bootstrapServers: number, targetConnections: number, measured: boolean }
  publish: { ratePerSec: number, publishers: 'all' | number, stopBeforeEndMs: number }
  rotation?: Required<RotationSpec>
  dtn?: Required<DtnSpec>
}
