import { barChart, esc, lineChart } from './svg.ts'
import { summaryTable } from './table.ts'
import type { RunSummary } from '../coordinator/summary-file.ts'
import type { AdapterSummary } from '../metrics/summary.ts'

export const MESH_COLOR = '#1f6fb2'
export const BASE_COLOR = '#d9822b'

/** The four charts of one run, as inline SVG strings (ids are prefixed so two runs fit one page). */
export function chartsOf (s: RunSummary, prefix = ''): { cdf: string, overTime: string, isolation: string, bytes: string } {
  const both = (f: (a: AdapterSummary) => Array<[number, number]>): Array<{ name: string, color: string, points: Array<[number, number]>, step?: boolean }> => [
    { name: 'mesh', color: MESH_COLOR, points: f(s.mesh), step: true },
    ...(s.baseline != null ? [{ name: 'plain gossipsub', color: BASE_COLOR, points: f(s.baseline), step: true }] : [])
  ]
  const cdf = lineChart(`${prefix}chart-latency-cdf`, 'Publish-to-delivery latency CDF', 'latency (ms)', 'fraction of deliveries', both(a => a.latencyCdf), { yMax: 1 })
  const overTime = lineChart(`${prefix}chart-delivery-over-time`, 'Deliveries per second over the run', 'seconds since traffic start', 'deliveries / s',
    both(a => a.overTime.map(o => [o.s, o.deliveries] as [number, number])))
  const iso = s.mesh.isolation
  const isolation = lineChart(`${prefix}chart-revocation-isolation`, 'Revocation isolation curve', 'ms after the CRL was published', 'fraction of nodes that isolated it',
    iso == null ? [] : [{ name: 'revoked node isolated', color: '#b22222', step: true, points: [[0, 0], ...iso.curve.map((t, i) => [t, (i + 1) / Math.max(1, iso.expectedPairs)] as [number, number])] }],
    { yMax: 1, empty: 'no revocation in this scenario (see the revocation scenario)' })
  const bytes = barChart(`${prefix}chart-bytes-per-node`, 'Bytes sent per node (link bytes, TLS and yamux included)', 'node', 'bytes sent', [
    { name: 'mesh', color: MESH_COLOR, values: s.mesh.perNode.map(n => n.bytesSent) },
    ...(s.baseline != null ? [{ name: 'plain gossipsub', color: BASE_COLOR, values: s.baseline.perNode.map(n => n.bytesSent) }] : [])
  ])
  return { cdf, overTime, isolation, bytes }
}

export const STYLE = 'body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}h1{font-size:20px}h2{font-size:16px;margin-top:28px}' +
  'figure{margin:0}figcaption{font-size:13px;color:#444;margin-top:4px}.charts{display:grid;grid-template-columns:repeat(2,minmax(560px,1fr));gap:16px}pre{background:#f6f6f6;padding:12px;font-size:12px;overflow:auto}' +
  'table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.ok{color:#17752c}.no{color:#b22222}'

/** A chart with a visible caption. */
export function figure (svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${esc(caption)}</figcaption></figure>`
}

/** A self-contained report.html: summary table, goals, the four charts inline; no script, no network. */
export function renderReport (s: RunSummary): string {
  const c = chartsOf(s)
  const goals = s.goals.map(g => `<tr><td>${esc(g.name)}</td><td>${esc(g.value)}</td><td>${esc(g.target)}</td><td class="${g.pass === true ? 'ok' : g.pass === false ? 'no' : ''}">${g.pass === true ? 'met' : g.pass === false ? 'missed' : '-'}</td></tr>`).join('')
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>dadm-mesh simulation ${esc(s.name)}</title><style>${STYLE}</style></head><body>` +
    `<h1>dadm-mesh simulation: ${esc(s.scenario)}, ${s.nodes} nodes, ${esc(s.transport)}</h1>` +
    (s.description != null ? `<p>${esc(s.description)}</p>` : '') +
    `<h2>Goals</h2><table><tr><th>goal</th><th>value</th><th>target</th><th></th></tr>${goals}</table>` +
    `<h2>Charts</h2><div class="charts">${figure(c.cdf, 'Latency CDF: publish to delivery, every expected receiver')}${figure(c.overTime, 'Delivery over time: deliveries per second')}` +
    `${figure(c.isolation, 'Revocation isolation curve: nodes that cut the revoked node off')}${figure(c.bytes, 'Bytes sent per node')}</div>` +
    `<h2>Summary</h2><pre>${esc(summaryTable(s))}</pre>` +
    '<p>Every figure here is recomputed from <code>events.ndjson</code> beside this file; <code>summary.json</code> holds them all.</p></body></html>\n'
}
