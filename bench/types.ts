/** One figure a benchmark prints. Goals are ratios against a baseline measured in the same run. */
export interface BenchResult {
  name: string
  value: number
  unit: string
  /** Name of the baseline figure this one is compared to, measured in the same run. */
  baseline?: string
  /** value / baseline value (or baseline / value for latencies, as `goal` states). */
  ratio?: number
  /** The goal the ratio is judged against, in words, e.g. ">= 0.5". */
  goal?: string
  /** Whether the ratio meets the goal, where there is one. */
  met?: boolean
}

/**
 * Runs `fn` repeatedly for about `ms` milliseconds (and at most `maxOps` times) and returns
 * operations per second. Bounded in count and time, as every load loop here must be.
 */
export async function opsPerSecond (fn: () => unknown, ms = 2000, maxOps = 5_000_000): Promise<number> {
  // warm-up: let the JIT settle and caches fill, so the timed part measures the steady state
  const warmEnd = performance.now() + Math.min(300, ms / 5)
  while (performance.now() < warmEnd) { await fn() }
  let ops = 0
  const start = performance.now()
  const end = start + ms
  while (ops < maxOps) {
    // check the clock every 64 ops so the clock read does not dominate cheap operations
    for (let i = 0; i < 64; i++) {
      const r = fn()
      if (r instanceof Promise) { await r }
    }
    ops += 64
    if (performance.now() >= end) { break }
  }
  return ops / ((performance.now() - start) / 1000)
}

/** Median of a list of numbers. */
export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** Prints results as an aligned table. */
export function printResults (title: string, results: BenchResult[], out: NodeJS.WritableStream = process.stdout): void {
  out.write(`\n## ${title}\n`)
  for (const r of results) {
    const v = r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(2)
    let line = `${r.name.padEnd(58)} ${v.padStart(12)} ${r.unit}`
    if (r.ratio !== undefined) {
      line += `   ratio ${r.ratio.toFixed(2)} vs ${r.baseline ?? 'baseline'} (goal ${r.goal ?? '?'})${r.met === undefined ? '' : r.met ? ' MET' : ' NOT MET'}`
    }
    out.write(line + '\n')
  }
}
