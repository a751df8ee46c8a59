import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chartsOf, STYLE } from './report-html.ts'
import { esc } from './svg.ts'
import { grid } from './table.ts'
import type { RunSummary } from '../coordinator/summary-file.ts'

/** `--compare A B`: a side-by-side table on the terminal and a two-column report.html. */
export async function compareRuns (a: RunSummary, b: RunSummary, resultsDir: string): Promise<{ text: string, file: string }> {
  const rows: string[][] = [['', a.name, b.name, 'B / A']]
  const add = (name: string, f: (s: RunSummary) => number | null | undefined): void => {
    const x = f(a); const y = f(b)
    rows.push([name, x == null ? 'n/a' : String(x), y == null ? 'n/a' : String(y), x != null && y != null && x !== 0 ? `${(y / x).toFixed(3)}x` : ''])
  }
  add('nodes', s => s.nodes)
  add('delivery ratio', s => s.mesh.deliveryRatio)
  add('latency p50 ms', s => s.mesh.latencyMs.p50)
  add('latency p90 ms', s => s.mesh.latencyMs.p90)
  add('latency p99 ms', s => s.mesh.latencyMs.p99)
  add('latency max ms', s => s.mesh.latencyMs.max)
  add('deliveries/s', s => s.mesh.deliveriesPerSecond)
  add('duplicates/node', s => s.mesh.duplicates.meanPerNode)
  add('sent bytes/node', s => s.mesh.bytes.sentMeanPerNode)
  add('isolation ms (all)', s => s.mesh.isolation?.allIsolatedMs)
  add('peak RSS MB', s => s.peakRssMB)
  add('wall s', s => Math.round(s.timings.totalMs / 100) / 10)
  const text = [`compare A=${a.name} (${a.scenario}) with B=${b.name} (${b.scenario})`, ...grid(rows)].join('\n')
  const ca = chartsOf(a, 'a-')
  const cb = chartsOf(b, 'b-')
  const col = (s: RunSummary, c: typeof ca): string => `<div><h2>${esc(s.name)}</h2><p>${esc(s.scenario)}, ${s.nodes} nodes, ${esc(s.transport)}, seed ${esc(s.seed)}</p>${c.cdf}${c.overTime}${c.isolation}${c.bytes}</div>`
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>compare ${esc(a.name)} / ${esc(b.name)}</title><style>${STYLE}.cmp{display:grid;grid-template-columns:1fr 1fr;gap:24px}</style></head><body>` +
    `<h1>dadm-mesh simulation: side by side</h1><pre>${esc(text)}</pre><div class="cmp">${col(a, ca)}${col(b, cb)}</div></body></html>\n`
  const dir = join(resultsDir, `compare-${safe(a.name)}-vs-${safe(b.name)}`.slice(0, 200))
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'report.html')
  await writeFile(file, html)
  return { text, file }
}

function safe (s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_')
}
