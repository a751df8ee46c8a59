import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * An independent reading of a run's events.ndjson, written apart from simulations/metrics so
 * that a bug there cannot hide here: the delivery ratio and the p99 latency of one adapter.
 * Expected receivers follow the documented rule: up (node_up/node_down) for the whole window
 * after the publish, not hostile, not revoked by the window's end, on the publisher's side of
 * any cut that overlaps the window.
 */
export interface Recomputed { ratio: number, p99: number, deliveries: number, expected: number, messages: number }

export async function readEvents (runDir: string): Promise<Array<Record<string, any>>> {
  const text = await readFile(join(runDir, 'events.ndjson'), 'utf8')
  return text.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l))
}

export function recompute (all: Array<Record<string, any>>, adapter: string): Recomputed {
  const windowMs: number = all.find(e => e.e === 'log')?.windowMs
  const ev = all.filter(e => e.a === adapter).sort((a, b) => a.t - b.t)
  const nodes: number = ev.find(e => e.e === 'run')?.nodes
  const end: number = ev.find(e => e.e === 'window_end')?.t
  const ups: Array<Array<[number, number]>> = Array.from({ length: nodes }, () => [])
  const open = new Map<number, number>()
  const cuts: Array<{ from: number, to: number, side: Map<number, number> }> = []
  const revoked = new Map<number, number>()
  const hostile = new Set<number>()
  for (const e of ev) {
    if (e.e === 'node_up' && !open.has(e.n)) { open.set(e.n, e.t) }
    if (e.e === 'node_down' && open.has(e.n)) { ups[e.n].push([open.get(e.n)!, e.t]); open.delete(e.n) }
    if (e.e === 'partition') { const side = new Map<number, number>(); e.groups.forEach((g: number[], i: number) => { for (const n of g) { side.set(n, i) } }); cuts.push({ from: e.t, to: Infinity, side }) }
    if (e.e === 'heal' && cuts.length > 0) { cuts[cuts.length - 1].to = e.t }
    if (e.e === 'crl_publish') { for (const r of e.revoked) { if (!revoked.has(r)) { revoked.set(r, e.t) } } }
    if (e.e === 'flood') { hostile.add(e.n) }
  }
  for (const [n, t] of open) { ups[n].push([t, Infinity]) }
  const firstDelivery = new Map<string, number>()
  for (const e of ev) { if (e.e === 'deliver' && !firstDelivery.has(`${e.m}/${e.n}`)) { firstDelivery.set(`${e.m}/${e.n}`, e.t) } }
  let expected = 0
  let delivered = 0
  let messages = 0
  const lat: number[] = []
  for (const p of ev.filter(e => e.e === 'publish')) {
    messages++
    const wEnd = Math.min(p.t + windowMs, end)
    for (let x = 0; x < nodes; x++) {
      if (x === p.n || hostile.has(x)) { continue }
      if (!ups[x].some(([a, b]) => a <= p.t && b >= wEnd)) { continue }
      if (revoked.has(x) && revoked.get(x)! <= wEnd) { continue }
      if (cuts.some(c => c.from < wEnd && c.to > p.t && c.side.has(x) && c.side.has(p.n) && c.side.get(x) !== c.side.get(p.n))) { continue }
      expected++
      const at = firstDelivery.get(`${p.m}/${x}`)
      if (at != null) { delivered++; lat.push(at - p.t) }
    }
  }
  lat.sort((a, b) => a - b)
  const p99 = lat.length === 0 ? NaN : lat[Math.max(0, Math.ceil(0.99 * lat.length) - 1)]
  return { ratio: expected === 0 ? NaN : delivered / expected, p99, deliveries: delivered, expected, messages }
}
