import { parseArgs } from 'node:util'
import type { TransportKind } from '../adapters/types.ts'

export const SIM_USAGE = 'sim [--scenario NAME|FILE] [--nodes N] [--transport memory|quic] [--seed S] [--shards K] [--duration-ms MS] [--rate MSG_PER_S] [--clock-speed X] [--baseline|--no-baseline] [--results DIR] [--name RUN] [--store-dir DIR] [--json] | sim --compare RUN_A RUN_B | sim --load-sweep [--nodes N] [--sweep-start R] [--sweep-factor F] [--sweep-steps K] [--sweep-refine K]'

export interface SimArgs {
  mode: 'run' | 'compare' | 'sweep' | 'help'
  scenario: string
  nodes?: number
  transport: TransportKind
  seed: string
  shards?: number
  durationMs?: number
  rate?: number
  /** Run clock speed of a scenario that rotates certificates. */
  clockSpeed?: number
  baseline?: boolean
  results: string
  name?: string
  storeDir?: string
  json: boolean
  compare: string[]
  sweepStart: number
  sweepFactor: number
  sweepSteps: number
  /** Runs after the geometric steps that bisect the last bracket (sustained, failed). @default 3 */
  sweepRefine: number
}

/** Thrown for a bad command line (exit 2). */
export class SimUsageError extends Error {
  static name = 'SimUsageError'
}

/** Parses `npm run sim -- ...` / `dadm-mesh sim ...` arguments. */
export function parseSimArgs (argv: string[]): SimArgs {
  let v
  try {
    v = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        scenario: { type: 'string' },
        nodes: { type: 'string' },
        transport: { type: 'string' },
        seed: { type: 'string' },
        shards: { type: 'string' },
        'duration-ms': { type: 'string' },
        rate: { type: 'string' },
        'clock-speed': { type: 'string' },
        baseline: { type: 'boolean' },
        'no-baseline': { type: 'boolean' },
        results: { type: 'string' },
        name: { type: 'string' },
        'store-dir': { type: 'string' },
        json: { type: 'boolean' },
        compare: { type: 'boolean' },
        'load-sweep': { type: 'boolean' },
        'sweep-start': { type: 'string' },
        'sweep-factor': { type: 'string' },
        'sweep-steps': { type: 'string' },
        'sweep-refine': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new SimUsageError((err as Error).message)
  }
  const o = v.values
  const transport = (o.transport ?? 'memory') as TransportKind
  if (transport !== 'memory' && transport !== 'quic') { throw new SimUsageError('--transport is memory or quic') }
  const mode = o.help === true ? 'help' : o.compare === true ? 'compare' : o['load-sweep'] === true ? 'sweep' : 'run'
  if (mode === 'compare' && v.positionals.length !== 2) { throw new SimUsageError('--compare takes two runs (directories or names under --results)') }
  if (mode !== 'compare' && v.positionals.length > 0) { throw new SimUsageError(`unexpected argument ${v.positionals[0]}`) }
  return {
    mode,
    scenario: o.scenario ?? 'steady-gossip',
    ...(o.nodes != null ? { nodes: int(o.nodes, '--nodes', 2, 5000) } : {}),
    transport,
    seed: o.seed ?? '1',
    ...(o.shards != null ? { shards: int(o.shards, '--shards', 1, 64) } : {}),
    ...(o['duration-ms'] != null ? { durationMs: int(o['duration-ms'], '--duration-ms', 100, 3_600_000) } : {}),
    ...(o.rate != null ? { rate: num(o.rate, '--rate', 0, 100_000) } : {}),
    ...(o['clock-speed'] != null ? { clockSpeed: num(o['clock-speed'], '--clock-speed', 1, 100) } : {}),
    ...(o.baseline === true ? { baseline: true } : o['no-baseline'] === true ? { baseline: false } : {}),
    results: o.results ?? 'results',
    ...(o.name != null ? { name: o.name } : {}),
    ...(o['store-dir'] != null ? { storeDir: o['store-dir'] } : {}),
    json: o.json === true,
    compare: v.positionals,
    sweepStart: o['sweep-start'] != null ? num(o['sweep-start'], '--sweep-start', 0.1, 100_000) : 5,
    sweepFactor: o['sweep-factor'] != null ? num(o['sweep-factor'], '--sweep-factor', 1.05, 10) : 1.6,
    sweepSteps: o['sweep-steps'] != null ? int(o['sweep-steps'], '--sweep-steps', 1, 30) : 10,
    sweepRefine: o['sweep-refine'] != null ? int(o['sweep-refine'], '--sweep-refine', 0, 10) : 3
  }
}

function num (s: string, flag: string, lo: number, hi: number): number {
  const x = Number(s)
  if (!Number.isFinite(x) || x < lo || x > hi) { throw new SimUsageError(`${flag} must be a number from ${lo} to ${hi}`) }
  return x
}

function int (s: string, flag: string, lo: number, hi: number): number {
  const x = num(s, flag, lo, hi)
  if (!Number.isInteger(x)) { throw new SimUsageError(`${flag} must be a whole number`) }
  return x
}
