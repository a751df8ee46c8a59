/** Small inline-SVG charts for the report: no script, no external file, readable offline. */

export interface Series { name: string, color: string, points: Array<[number, number]>, step?: boolean }

const W = 560
const H = 300
const M = { l: 60, r: 16, t: 28, b: 44 }

export function esc (s: string): string {
  return s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

function ticks (lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) { return [lo] }
  const raw = (hi - lo) / n
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map(f => f * mag).find(s => s >= raw) ?? raw
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 && out.length < 20; v += step) { out.push(Number(v.toPrecision(12))) }
  return out
}

function fmt (v: number): string {
  return Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : Math.abs(v) >= 1e4 ? `${(v / 1e3).toFixed(0)}k` : String(Number(v.toPrecision(4)))
}

function frame (id: string, title: string, xLabel: string, yLabel: string, xs: number[], ys: number[], sx: (v: number) => number, sy: (v: number) => number, body: string, legend: Array<{ name: string, color: string }>): string {
  const grid = ys.map(v => `<line x1="${M.l}" x2="${W - M.r}" y1="${sy(v)}" y2="${sy(v)}" stroke="#e3e3e3"/><text x="${M.l - 6}" y="${sy(v) + 4}" text-anchor="end" font-size="11">${fmt(v)}</text>`).join('') +
    xs.map(v => `<line x1="${sx(v)}" x2="${sx(v)}" y1="${H - M.b}" y2="${H - M.b + 4}" stroke="#555"/><text x="${sx(v)}" y="${H - M.b + 16}" text-anchor="middle" font-size="11">${fmt(v)}</text>`).join('')
  const leg = legend.map((l, i) => `<rect x="${M.l + 8 + i * 130}" y="8" width="12" height="12" fill="${l.color}"/><text x="${M.l + 24 + i * 130}" y="18" font-size="12">${esc(l.name)}</text>`).join('')
  return `<svg id="${id}" class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">` +
    `<title>${esc(title)}</title><rect width="${W}" height="${H}" fill="#fff"/>${grid}` +
    `<line x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}" stroke="#333"/><line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${H - M.b}" stroke="#333"/>` +
    `${body}${leg}<text x="${(M.l + W - M.r) / 2}" y="${H - 6}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>` +
    `<text transform="translate(14 ${(M.t + H - M.b) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text></svg>`
}

/** A line chart; `empty` is shown when no series has points. */
export function lineChart (id: string, title: string, xLabel: string, yLabel: string, series: Series[], opts: { yMax?: number, empty?: string } = {}): string {
  const pts = series.flatMap(s => s.points)
  if (pts.length === 0) { return emptyChart(id, title, opts.empty ?? 'no data in this run') }
  const xMax = Math.max(...pts.map(p => p[0]), 1e-9)
  const xMin = Math.min(0, ...pts.map(p => p[0]))
  const yMax = opts.yMax ?? Math.max(...pts.map(p => p[1]), 1e-9)
  const sx = (v: number): number => Math.round((M.l + ((v - xMin) / (xMax - xMin)) * (W - M.l - M.r)) * 10) / 10
  const sy = (v: number): number => Math.round((H - M.b - (v / yMax) * (H - M.t - M.b)) * 10) / 10
  const body = series.map(s => {
    if (s.points.length === 0) { return '' }
    let d = ''
    s.points.forEach(([x, y], i) => {
      if (i === 0) { d += `M${sx(x)},${sy(y)}` } else { d += s.step === true ? `H${sx(x)}V${sy(y)}` : `L${sx(x)},${sy(y)}` }
    })
    return `<path class="series" data-series="${esc(s.name)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`
  }).join('')
  return frame(id, title, xLabel, yLabel, ticks(xMin, xMax), ticks(0, yMax), sx, sy, body, series)
}

/** A bar chart of one or two series over the same categories (index on x). */
export function barChart (id: string, title: string, xLabel: string, yLabel: string, series: Array<{ name: string, color: string, values: number[] }>, opts: { empty?: string } = {}): string {
  const n = Math.max(0, ...series.map(s => s.values.length))
  if (n === 0) { return emptyChart(id, title, opts.empty ?? 'no data in this run') }
  const yMax = Math.max(1e-9, ...series.flatMap(s => s.values))
  const bw = (W - M.l - M.r) / n
  const sx = (v: number): number => M.l + v * bw
  const sy = (v: number): number => H - M.b - (v / yMax) * (H - M.t - M.b)
  const body = series.map((s, k) => s.values.map((v, i) => {
    const w = Math.max(0.5, bw / series.length - 0.2)
    return `<rect class="bar" x="${(sx(i) + k * (bw / series.length)).toFixed(2)}" y="${sy(v).toFixed(2)}" width="${w.toFixed(2)}" height="${(H - M.b - sy(v)).toFixed(2)}" fill="${s.color}"/>`
  }).join('')).join('')
  return frame(id, title, xLabel, yLabel, ticks(0, n), ticks(0, yMax), sx, sy, body, series)
}

function emptyChart (id: string, title: string, note: string): string {
  return `<svg id="${id}" class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>` +
    `<rect width="${W}" height="${H}" fill="#fafafa" stroke="#ccc"/><text x="${W / 2}" y="${H / 2}" text-anchor="middle" font-size="14" fill="#666">${esc(note)}</text></svg>`
}
