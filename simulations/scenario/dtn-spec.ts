import { NODE_BUNDLES_DEFAULTS } from '../../src/daemon/runtime/dtn.ts'

/**
 * The `dtn` option of a scenario: every mesh node runs the DTN layer a node process
 * runs (`startRuntimeDtn`: bundle store, agent, `/dadm-mesh/bundle/1.0.0`, carried gossip), so
 * anomaly signatures published while peers are away ride broadcast bundles to them later.
 */
export interface DtnSpec {
  /**
   * When a node wraps the anomaly signatures it publishes into broadcast bundles: `missing`
   * while some peer it knows is not connected (the node's default), `always` for every one.
   *
   * @default 'missing'
   */
  carry?: 'missing' | 'always'
  /**
   * How often each node plans due bundle transfers, ms: a bundle that reaches a node floods on
   * at that node's next tick.
   *
   * @default 1000 (NODE_BUNDLES_DEFAULTS.tickMs: what a node process uses)
   */
  tickMs?: number
}

/** The option with its defaults; a tick of 50 ms to 10 s. */
export function resolveDtn (d: DtnSpec): Required<DtnSpec> {
  const out = { carry: d.carry ?? 'missing', tickMs: d.tickMs ?? NODE_BUNDLES_DEFAULTS.tickMs }
  if (out.carry !== 'missing' && out.carry !== 'always') { throw new Error('dtn.carry must be "missing" or "always"') }
  if (!(Number.isInteger(out.tickMs) && out.tickMs >= 50 && out.tickMs <= 10_000)) { throw new Error('dtn.tickMs must be a whole number from 50 to 10000') }
  return out
}
