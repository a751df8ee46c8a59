import type { SweepStep } from './load-sweep.ts'

/** What the sweep knows of one adapter: its highest sustained rate and the lowest failed rate above it. */
export interface Bracket { sustained: number | null, failed: number | null }

/** Rates closer than this ratio are not worth another run (each run is 30 to 60 s). */
const MIN_RATIO = 1.05

export function bracketOf (steps: SweepStep[], adapter: string): Bracket {
  const mine = steps.filter(s => s.adapter === adapter)
  const ok = mine.filter(s => s.sustained).map(s => s.rate)
  const sustained = ok.length > 0 ? Math.max(...ok) : null
  const above = mine.filter(s => !s.sustained && (sustained == null || s.rate > sustained)).map(s => s.rate)
  return { sustained, failed: above.length > 0 ? Math.min(...above) : null }
}

/**
 * The next rate to run after the geometric steps: the geometric midpoint of the widest bracket
 * (failed / sustained), with every adapter whose bracket holds that rate. Null when no bracket is
 * wider than MIN_RATIO (or none is closed: nothing sustained yet, or nothing failed).
 */
export function nextRefinement (steps: SweepStep[], adapters: string[]): { rate: number, adapters: string[] } | null {
  let widest: { adapter: string, ratio: number, rate: number } | null = null
  for (const adapter of adapters) {
    const b = bracketOf(steps, adapter)
    if (b.sustained == null || b.failed == null) { continue }
    const ratio = b.failed / b.sustained
    if (ratio <= MIN_RATIO || (widest != null && ratio <= widest.ratio)) { continue }
    widest = { adapter, ratio, rate: Math.round(Math.sqrt(b.failed * b.sustained) * 100) / 100 }
  }
  if (widest == null) { return null }
  const rate = widest.rate
  return {
    rate,
    adapters: adapters.filter(a => {
      const b = bracketOf(steps, a)
      return b.sustained != null && b.failed != null && b.sustained < rate && rate < b.failed
    })
  }
}
