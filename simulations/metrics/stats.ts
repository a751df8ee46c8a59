/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) { return NaN }
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

export interface LatencyFigures { count: number, p50: number, p90: number, p99: number, max: number, mean: number }

/** The latency figures of a run from its (unsorted) samples, ms. */
export function latencyFigures (samples: number[]): LatencyFigures {
  const s = [...samples].sort((a, b) => a - b)
  const mean = s.length === 0 ? NaN : s.reduce((a, b) => a + b, 0) / s.length
  return { count: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length === 0 ? NaN : s[s.length - 1], mean }
}

/** At most `points` (x, F(x)) pairs of the empirical CDF of `samples`. */
export function cdfPoints (samples: number[], points = 200): Array<[number, number]> {
  const s = [...samples].sort((a, b) => a - b)
  if (s.length === 0) { return [] }
  const out: Array<[number, number]> = []
  const step = Math.max(1, Math.floor(s.length / points))
  for (let i = step - 1; i < s.length; i += step) { out.push([s[i], (i + 1) / s.length]) }
  if (out[out.length - 1][1] !== 1) { out.push([s[s.length - 1], 1]) }
  return out
}

/** Rounds for JSON output (3 decimals), keeping NaN as null. */
export function r3 (x: number): number | null {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null
}
