import { healFigures } from './heal.ts'
import { rotationFigures } from './rotation-summary.ts'
import { cdfPoints, latencyFigures, r3 } from './stats.ts'
import type { SimEvent } from './events.ts'
import type { HealFigures } from './heal.ts'
import type { RotationFigures } from './rotation-summary.ts'

/** Interval during which something held: [from, to). */
interface Span { from: number, to: number }

export interface MessageFigure { m: string, publisher: number, t: number, expected: number, delivered: number }

export interface AdapterSummary {
  adapter: string
  nodes: number
  messages: number
  publishFailures: number
  expectedDeliveries: number
  deliveries: number
  /** Deliveries to nodes that were not expected (joined late, other side of a cut): not in the ratio. */
  extraDeliveries: number
  deliveryRatio: number | null
  /** Messages that reached every expected receiver / all messages. */
  messagesComplete: number | null
  /** Worst per-message ratio. */
  minMessageRatio: number | null
  latencyMs: { count: number, p50: number | null, p90: number | null, p99: number | null, max: number | null, mean: number | null }
  trafficSeconds: number
  deliveriesPerSecond: number | null
  duplicates: { total: number, meanPerNode: number | null, maxPerNode: number }
  invalidRejected: number
  bytes: { sentMeanPerNode: number | null, receivedMeanPerNode: number | null, sentMaxPerNode: number, rpcSentMeanPerNode: number | null }
  perNode: Array<{ n: number, duplicates: number, bytesSent: number, bytesReceived: number }>
  perMessage: MessageFigure[]
  latencyCdf: Array<[number, number]>
  /** Per second since traffic start: deliveries, publishes, and the delivery ratio of messages published that second. */
  overTime: Array<{ s: number, deliveries: number, publishes: number, ratio: number | null }>
  isolation?: IsolationFigures
  partition?: PartitionFigures
  /** Cut-time messages on every node after the heal, and how long it took (metrics/heal.ts). */
  heal?: HealFigures
  flood?: { sent: Record<string, number>, flooder: number[] }
  /** Certificate rotation (scenario option `rotation`): rotations, re-auths, auth failures and their cause. */
  rotation?: RotationFigures
  /** Links and gossip meshes forming: from the first node up to the last node with a mesh peer. */
  formation: { readyMs: number | null, nodesWithMeshPeers: number, meanMeshPeers: number | null, dials: number, dialFailures: number, dialP50Ms: number | null }
  shards: Array<{ shard: number, nodes: number, cpuS: number, peakRssMB: number }>
}

export interface IsolationFigures {
  crlPublishedAt: number
  revoked: number[]
  /** For each revoked node: how many nodes had to isolate it, how many did, and how fast. */
  perRevoked: Array<{ r: number, expected: number, isolated: number, p50Ms: number | null, p99Ms: number | null, maxMs: number | null }>
  /** Time (ms after the CRL) by which the revoked nodes were isolated on every node; null if never. */
  allIsolatedMs: number | null
  /** Sorted isolation times, ms, for the curve (fraction = (i+1)/expected). */
  curve: number[]
  expectedPairs: number
}

export interface PartitionFigures {
  cutAt: number
  healAt: number | null
  /** Deliveries across the cut while it held: must be 0 (the link model's cut works). */
  crossDeliveriesWhileCut: number
  /**
   * Messages published during the cut that reached the other side after the heal: gossipsub's
   * message cache (IHAVE over the last 3 heartbeats) carries the last few seconds; everything
   * older needs DTN bundles.
   */
  cutMessagesCrossedAfterHeal: number
  cutMessages: number
  /** ms from heal until the first message published after it reached every node. */
  recoveryMs: number | null
  /** Delivery ratio of messages published after the heal. */
  postHealRatio: number | null
}

/**
 * Every figure of a run, from its raw events alone (one adapter's events). Expected receivers of
 * a message: every node other than the publisher that was up, on the publisher's side of any
 * cut, not revoked and not hostile for the whole delivery window after the publish.
 */
export function summarize (events: SimEvent[], windowMs: number): AdapterSummary {
  const ev = [...events].sort((a, b) => a.t - b.t)
  const run = ev.find(e => e.e === 'run') as Extract<SimEvent, { e: 'run' }> | undefined
  const nodes = run?.nodes ?? 0
  const end = (ev.find(e => e.e === 'window_end')?.t) ?? (ev.length > 0 ? ev[ev.length - 1].t : 0)
  const trafficStart = (ev.find(e => e.e === 'phase' && e.phase === 'traffic')?.t) ?? (ev[0]?.t ?? 0)

  const up = spansOf(ev, nodes, end)
  const cuts: Array<{ span: Span, group: Map<number, number> }> = []
  let open: { t: number, group: Map<number, number> } | undefined
  for (const e of ev) {
    if (e.e === 'partition') { const g = new Map<number, number>(); e.groups.forEach((grp, i) => grp.forEach(n => g.set(n, i))); open = { t: e.t, group: g } }
    if (e.e === 'heal' && open != null) { cuts.push({ span: { from: open.t, to: e.t }, group: open.group }); open = undefined }
  }
  if (open != null) { cuts.push({ span: { from: open.t, to: Infinity }, group: open.group }) }
  const revokedAt = new Map<number, number>()
  const hostile = new Set<number>()
  for (const e of ev) {
    if (e.e === 'crl_publish') { for (const r of e.revoked) { if (!revokedAt.has(r)) { revokedAt.set(r, e.t) } } }
    if (e.e === 'flood') { hostile.add(e.n) }
  }

  const publishes = ev.filter(e => e.e === 'publish') as Array<Extract<SimEvent, { e: 'publish' }>>
  const delivered = new Map<string, Map<number, number>>()
  for (const e of ev) {
    if (e.e !== 'deliver') { continue }
    let m = delivered.get(e.m)
    if (m == null) { m = new Map(); delivered.set(e.m, m) }
    if (!m.has(e.n)) { m.set(e.n, e.t) }
  }

  const latencies: number[] = []
  const perMessage: MessageFigure[] = []
  let expectedTotal = 0
  let deliveredTotal = 0
  let extra = 0
  for (const p of publishes) {
    const wEnd = Math.min(p.t + windowMs, end)
    const got = delivered.get(p.m) ?? new Map<number, number>()
    let expected = 0
    let ok = 0
    for (let x = 0; x < nodes; x++) {
      if (x === p.n) { continue }
      const isExpected = !hostile.has(x) && covered(up[x], p.t, wEnd) && !(revokedAt.has(x) && revokedAt.get(x)! <= wEnd) &&
        !cuts.some(c => c.span.from < wEnd && c.span.to > p.t && c.group.has(x) && c.group.has(p.n) && c.group.get(x) !== c.group.get(p.n))
      const at = got.get(x)
      if (isExpected) {
        expected++
        if (at != null) { ok++; latencies.push(at - p.t) }
      } else if (at != null) {
        extra++
      }
    }
    expectedTotal += expected
    deliveredTotal += ok
    perMessage.push({ m: p.m, publisher: p.n, t: r3(p.t - trafficStart)!, expected, delivered: ok })
  }

  const lat = latencyFigures(latencies)
  const stats = ev.filter(e => e.e === 'node_stats') as Array<Extract<SimEvent, { e: 'node_stats' }>>
  const dupTotal = stats.reduce((a, s) => a + s.duplicates, 0)
  const lastPublish = publishes.length > 0 ? publishes[publishes.length - 1].t : trafficStart
  const trafficSeconds = Math.max(0.001, (lastPublish - trafficStart) / 1000)
  const complete = perMessage.filter(m => m.delivered === m.expected).length

  return {
    adapter: run?.adapter ?? 'unknown',
    nodes,
    messages: publishes.length,
    publishFailures: ev.filter(e => e.e === 'publish_failed').length,
    expectedDeliveries: expectedTotal,
    deliveries: deliveredTotal,
    extraDeliveries: extra,
    deliveryRatio: expectedTotal > 0 ? deliveredTotal / expectedTotal : null,
    messagesComplete: perMessage.length > 0 ? complete / perMessage.length : null,
    minMessageRatio: perMessage.length > 0 ? perMessage.reduce((lo, m) => Math.min(lo, m.expected === 0 ? 1 : m.delivered / m.expected), 1) : null,
    latencyMs: { count: lat.count, p50: r3(lat.p50), p90: r3(lat.p90), p99: r3(lat.p99), max: r3(lat.max), mean: r3(lat.mean) },
    trafficSeconds: r3(trafficSeconds)!,
    deliveriesPerSecond: r3(deliveredTotal / trafficSeconds),
    duplicates: { total: dupTotal, meanPerNode: stats.length > 0 ? r3(dupTotal / stats.length) : null, maxPerNode: stats.reduce((a, s) => Math.max(a, s.duplicates), 0) },
    invalidRejected: stats.reduce((a, s) => a + s.invalid, 0),
    bytes: {
      sentMeanPerNode: stats.length > 0 ? Math.round(stats.reduce((a, s) => a + s.bytesSent, 0) / stats.length) : null,
      receivedMeanPerNode: stats.length > 0 ? Math.round(stats.reduce((a, s) => a + s.bytesReceived, 0) / stats.length) : null,
      sentMaxPerNode: stats.reduce((a, s) => Math.max(a, s.bytesSent), 0),
      rpcSentMeanPerNode: stats.length > 0 ? Math.round(stats.reduce((a, s) => a + s.rpcBytesSent, 0) / stats.length) : null
    },
    perNode: stats.map(s => ({ n: s.n, duplicates: s.duplicates, bytesSent: s.bytesSent, bytesReceived: s.bytesReceived })).sort((a, b) => a.n - b.n),
    perMessage,
    latencyCdf: cdfPoints(latencies).map(([x, y]) => [r3(x)!, r3(y)!]),
    overTime: overTime(ev, trafficStart, end, perMessage),
    ...isolation(ev, up, hostile, revokedAt),
    ...partition(ev, cuts, perMessage, delivered, trafficStart),
    ...healFigures(ev, nodes, end),
    ...(hostile.size > 0 ? { flood: floodFigures(ev, hostile) } : {}),
    ...rotationFigures(ev, nodes),
    formation: formationFigures(ev),
    shards: (ev.filter(e => e.e === 'shard_stats') as Array<Extract<SimEvent, { e: 'shard_stats' }>>).map(s => ({ shard: s.shard, nodes: s.nodes, cpuS: r3(s.cpuUserS + s.cpuSystemS)!, peakRssMB: Math.round(s.peakRssBytes / 1048576) }))
  }
}

/** Up-spans of every node, from node_up / node_down. */
function spansOf (ev: SimEvent[], nodes: number, end: number): Span[][] {
  const spans: Span[][] = Array.from({ length: nodes }, () => [])
  const since = new Map<number, number>()
  for (const e of ev) {
    if (e.e === 'node_up' && !since.has(e.n)) { since.set(e.n, e.t) }
    if (e.e === 'node_down' && since.has(e.n)) { spans[e.n]?.push({ from: since.get(e.n)!, to: e.t }); since.delete(e.n) }
  }
  for (const [n, t] of since) { spans[n]?.push({ from: t, to: Math.max(end, t) + 1 }) }
  return spans
}

function covered (spans: Span[] | undefined, from: number, to: number): boolean {
  return spans?.some(s => s.from <= from && s.to >= to) ?? false
}

function overTime (ev: SimEvent[], start: number, end: number, perMessage: MessageFigure[]): AdapterSummary['overTime'] {
  const secs = Math.max(1, Math.ceil((end - start) / 1000))
  const out = Array.from({ length: Math.min(secs, 3600) }, (_, s) => ({ s, deliveries: 0, publishes: 0, exp: 0, got: 0 }))
  for (const e of ev) {
    if (e.e !== 'deliver' && e.e !== 'publish') { continue }
    const s = Math.floor((e.t - start) / 1000)
    if (s < 0 || s >= out.length) { continue }
    if (e.e === 'deliver') { out[s].deliveries++ } else { out[s].publishes++ }
  }
  for (const m of perMessage) {
    const s = Math.floor(m.t / 1000)
    if (s >= 0 && s < out.length) { out[s].exp += m.expected; out[s].got += m.delivered }
  }
  return out.map(o => ({ s: o.s, deliveries: o.deliveries, publishes: o.publishes, ratio: o.exp > 0 ? r3(o.got / o.exp) : null }))
}

function isolation (ev: SimEvent[], up: Span[][], hostile: Set<number>, revokedAt: Map<number, number>): { isolation?: IsolationFigures } {
  const pub = ev.find(e => e.e === 'crl_publish') as Extract<SimEvent, { e: 'crl_publish' }> | undefined
  if (pub == null) { return {} }
  const revoked = [...revokedAt.keys()]
  const iso = new Map<string, number>()
  for (const e of ev) { if (e.e === 'isolated' && !iso.has(`${e.n}:${e.r}`)) { iso.set(`${e.n}:${e.r}`, e.t - pub.t) } }
  const all: number[] = []
  let expectedPairs = 0
  let complete = true
  const perRevoked = revoked.map(r => {
    const times: number[] = []
    let expected = 0
    for (let x = 0; x < up.length; x++) {
      if (revokedAt.has(x) || hostile.has(x) || !covered(up[x], pub.t, pub.t)) { continue }
      expected++
      const t = iso.get(`${x}:${r}`)
      if (t != null) { times.push(t) }
    }
    if (times.length < expected) { complete = false }
    expectedPairs += expected
    all.push(...times)
    const f = latencyFigures(times)
    return { r, expected, isolated: times.length, p50Ms: r3(f.p50), p99Ms: r3(f.p99), maxMs: r3(f.max) }
  })
  all.sort((a, b) => a - b)
  return { isolation: { crlPublishedAt: pub.t, revoked, perRevoked, allIsolatedMs: complete && all.length > 0 ? r3(all[all.length - 1]) : null, curve: all.map(x => r3(x)!), expectedPairs } }
}

function partition (ev: SimEvent[], cuts: Array<{ span: Span, group: Map<number, number> }>, perMessage: MessageFigure[], delivered: Map<string, Map<number, number>>, start: number): { partition?: PartitionFigures } {
  const c = cuts[0]
  if (c == null) { return {} }
  const healAt = Number.isFinite(c.span.to) ? c.span.to : null
  let cross = 0
  let whileCut = 0
  let cutMessages = 0
  for (const m of perMessage) {
    const t = m.t + start
    if (t < c.span.from || t >= c.span.to) { continue }
    cutMessages++
    const side = c.group.get(m.publisher)
    let crossed = false
    for (const [x, at] of delivered.get(m.m) ?? new Map<number, number>()) {
      if (c.group.get(x) === side) { continue }
      crossed = true
      if (at < c.span.to) { whileCut++ }
    }
    if (crossed) { cross++ }
  }
  const after = healAt == null ? [] : perMessage.filter(m => m.t + start >= healAt)
  const firstFull = after.find(m => m.expected > 0 && m.delivered === m.expected)
  const exp = after.reduce((a, m) => a + m.expected, 0)
  let recoveryMs: number | null = null
  if (firstFull != null && healAt != null) {
    const lastAt = Math.max(...(delivered.get(firstFull.m)?.values() ?? [firstFull.t + start]))
    recoveryMs = r3(lastAt - healAt)
  }
  return { partition: { cutAt: c.span.from, healAt, crossDeliveriesWhileCut: whileCut, cutMessagesCrossedAfterHeal: cross, cutMessages, recoveryMs, postHealRatio: exp > 0 ? r3(after.reduce((a, m) => a + m.delivered, 0) / exp) : null } }
}

function formationFigures (ev: SimEvent[]): AdapterSummary['formation'] {
  const ups = ev.filter(e => e.e === 'node_up')
  const ready = ev.filter(e => e.e === 'ready') as Array<Extract<SimEvent, { e: 'ready' }>>
  const withPeers = ready.filter(r => r.peers > 0)
  const dials = ev.filter(e => e.e === 'dial') as Array<Extract<SimEvent, { e: 'dial' }>>
  const okMs = dials.filter(d => d.ok).map(d => d.ms).sort((a, b) => a - b)
  return {
    readyMs: ups.length > 0 && withPeers.length > 0 ? r3(withPeers.reduce((a, r) => Math.max(a, r.t), 0) - ups[0].t) : null,
    nodesWithMeshPeers: withPeers.length,
    meanMeshPeers: ready.length > 0 ? r3(ready.reduce((a, r) => a + r.peers, 0) / ready.length) : null,
    dials: dials.length,
    dialFailures: dials.length - okMs.length,
    dialP50Ms: okMs.length > 0 ? r3(okMs[Math.ceil(okMs.length / 2) - 1]) : null
  }
}

function floodFigures (ev: SimEvent[], hostile: Set<number>): { sent: Record<string, number>, flooder: number[] } {
  const sent: Record<string, number> = {}
  for (const e of ev) { if (e.e === 'flood') { sent[e.kind] = (sent[e.kind] ?? 0) + e.count } }
  return { sent, flooder: [...hostile] }
}
