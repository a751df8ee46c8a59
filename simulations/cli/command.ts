import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runLoadSweep } from '../coordinator/load-sweep.ts'
import { runSimulation } from '../coordinator/run.ts'
import { compareRuns } from '../output/compare.ts'
import { ProgressBar } from '../output/progress.ts'
import { summaryTable } from '../output/table.ts'
import { parseSimArgs, SIM_USAGE, SimUsageError } from './args.ts'
import type { RunSummary } from '../coordinator/summary-file.ts'

export { SIM_USAGE }

interface Io { stdout: { write(s: string): unknown }, stderr: { write(s: string): unknown } }

/** Runs the harness command line; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runSimCommand (argv: string[], io: Io): Promise<number> {
  let args
  try {
    args = parseSimArgs(argv)
  } catch (err) {
    if (err instanceof SimUsageError) { io.stderr.write(`error: ${err.message}\nusage: ${SIM_USAGE}\n`); return 2 }
    throw err
  }
  if (args.mode === 'help') { io.stdout.write(`usage: ${SIM_USAGE}\n`); return 0 }
  const bar = new ProgressBar(process.stderr)
  try {
    if (args.mode === 'compare') {
      const [a, b] = await Promise.all(args.compare.map(async r => readSummary(args.results, r)))
      const { text, file } = await compareRuns(a, b, args.results)
      io.stdout.write(text + `\nside-by-side report: ${file}\n`)
      return 0
    }
    if (args.mode === 'sweep') {
      const r = await runLoadSweep({ args, onPhase: p => { bar.phase(p) }, onProgress: p => { bar.update(p) } })
      bar.clear()
      io.stdout.write(r.text + '\n')
      return 0
    }
    const { runDir, summary } = await runSimulation({
      scenario: args.scenario,
      ...(args.nodes != null ? { nodes: args.nodes } : {}),
      transport: args.transport,
      seed: args.seed,
      ...(args.shards != null ? { shards: args.shards } : {}),
      ...(args.durationMs != null ? { durationMs: args.durationMs } : {}),
      ...(args.rate != null ? { rate: args.rate } : {}),
      ...(args.clockSpeed != null ? { clockSpeed: args.clockSpeed } : {}),
      ...(args.baseline != null ? { baseline: args.baseline } : {}),
      resultsDir: args.results,
      ...(args.name != null ? { name: args.name } : {}),
      ...(args.storeDir != null ? { storeDir: args.storeDir } : {}),
      onPhase: p => { bar.phase(p) },
      onProgress: p => { bar.update(p) }
    })
    bar.clear()
    io.stdout.write(args.json ? JSON.stringify(summary, null, 2) + '\n' : summaryTable(summary) + `\n\nresults: ${runDir}/ (summary.json, events.ndjson, report.html)\n`)
    return 0
  } catch (err: any) {
    bar.clear()
    io.stderr.write(`sim failed: ${String(err?.stack ?? err)}\n`)
    return 1
  }
}

/** A run's summary.json, by directory or by name under the results root. */
async function readSummary (results: string, run: string): Promise<RunSummary> {
  for (const dir of [run, join(results, run)]) {
    try {
      return JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as RunSummary
    } catch {}
  }
  throw new Error(`no summary.json in ${run} or ${join(results, run)}`)
}
