import { latencyFigures, r3 } from './stats.ts'
import type { SimEvent } from './events.ts'
import type { Goal } from '../coordinator/summary-file.ts'

/**
 * What a partition leaves behind once it heals: every anomaly
 * signature published during the cut must reach every node, both sides, after the heal; gossip
 * carries little of it (gossipsub's message cache covers the last 3 heartbeats), DTN bundles
 * carry the rest.
 *
 * Expected receivers of a cut-time message, for these figures only: every node other than its
 * publisher that is up from the heal to the end of the run, not hostile (flooding) and not
 * revoked. Unlike the run's delivery ratio, there is no delivery window and no side of the cut:
 * a message has until the end of the run (traffic and drain) to reach every node.
 */
export const HEAL_RECEIVERS_RULE = 'every node but the publisher that is up from the heal to the end of the run (not hostile, not revoked); deadline: the end of the run'

export interface HealFigures {
  cutAt: number
  healAt: number
  rule: string
  /** Messages published while the cut held. */
  cutMessages: number
  /** (message, receiver) pairs under the rule, and those delivered by the end of the run. */
  expectedDeliveries: number
  deliveries: number
  deliveryRatio: number | null
  /** Cut-time messages that reached every expected receiver by the end of the run / cutMessages (goal 1). */
  allNodesRatio: number | null
  messagesComplete: number
  /** Per complete message: ms from the heal until its last expected receiver had it. */
  afterHealMs: { count: number, p50: number | null, p99: number | null, max: number | null }
  /** First deliveries of cut-time messages by path: all of them, and those across the cut. */
  via: { gossip: number, bundle: number, unknown: number, crossGossip: number, crossBundle: number }
  /** The path of the delivery to each complete message's last node. */
  lastVia: { gossip: number, bundle: number, unknown: number }
  /** Sums of the nodes' DTN counters (dtn_stats), when DTN ran. */
  dtn?: { nodes: number, carried: number, accepted: number, refused: number, held: number }
}

type Via = 'gossip' | 'bundle' | 'unknown'

/** The heal figures of one adapter's events (sorted by time); nothing when no cut healed. */
export function healFigures (ev: SimEvent[], nodes: number, end: number): { heal?: HealFigures } {
  const cut = ev.find(e => e.e === 'partition') as Extract<SimEvent, { e: 'partition' }> | undefined
  const heal = cut == null ? undefined : ev.find(e => e.e === 'heal' && e.t >= cut.t)
  if (cut == null || heal == null) { return {} }
  const side = new Map<number, number>()
  cut.groups.forEach((g, i) => { for (const n of g) { side.set(n, i) } })

  const receivers = receiversAfter(ev, nodes, heal.t, end)
  const first = firstDeliveries(ev, end)

  const via = { gossip: 0, bundle: 0, unknown: 0, crossGossip: 0, crossBundle: 0 }
  const lastVia = { gossip: 0, bundle: 0, unknown: 0 }
  const afterHeal: number[] = []
  let messages = 0
  let complete = 0
  let expected = 0
  let delivered = 0
  for (const p of ev) {
    if (p.e !== 'publish' || p.t < cut.t || p.t >= heal.t) { continue }
    messages++
    let last: { t: number, via: Via } | undefined
    let got = 0
    const rs = receivers(p.n)
    for (const x of rs) {
      const d = first.get(`${p.m}/${x}`)
      if (d == null) { continue }
      got++
      via[d.via]++
      if (side.get(x) !== side.get(p.n)) {
        if (d.via === 'gossip') { via.crossGossip++ }
        if (d.via === 'bundle') { via.crossBundle++ }
      }
      if (last == null || d.t > last.t) { last = d }
    }
    expected += rs.length
    delivered += got
    if (got === rs.length) {
      complete++
      if (last != null) {
        afterHeal.push(Math.max(0, last.t - heal.t))
        lastVia[last.via]++
      }
    }
  }
  const f = latencyFigures(afterHeal)
  const stats = ev.filter(e => e.e === 'dtn_stats') as Array<Extract<SimEvent, { e: 'dtn_stats' }>>
  const sum = (k: 'carried' | 'accepted' | 'refused' | 'held'): number => stats.reduce((a, s) => a + s[k], 0)
  return {
    heal: {
      cutAt: cut.t,
      healAt: heal.t,
      rule: HEAL_RECEIVERS_RULE,
      cutMessages: messages,
      expectedDeliveries: expected,
      deliveries: delivered,
      deliveryRatio: expected > 0 ? delivered / expected : null,
      allNodesRatio: messages > 0 ? complete / messages : null,
      messagesComplete: complete,
      afterHealMs: { count: f.count, p50: r3(f.p50), p99: r3(f.p99), max: r3(f.max) },
      via,
      lastVia,
      ...(stats.length > 0 ? { dtn: { nodes: stats.length, carried: sum('carried'), accepted: sum('accepted'), refused: sum('refused'), held: sum('held') } } : {})
    }
  }
}

/** Under the rule: who must have a message of `publisher` by the end (up without a break from the heal on). */
function receiversAfter (ev: SimEvent[], nodes: number, healAt: number, end: number): (publisher: number) => number[] {
  const upSince = new Map<number, number>()
  const out = new Set<number>()
  for (const e of ev) {
    if (e.e === 'node_up' && !upSince.has(e.n)) { upSince.set(e.n, e.t) }
    if (e.e === 'node_down') {
      upSince.delete(e.n)
      if (e.t >= healAt && e.t <= end) { out.add(e.n) }
    }
    if (e.e === 'flood') { out.add(e.n) }
    if (e.e === 'crl_publish') { for (const r of e.revoked) { out.add(r) } }
  }
  const all: number[] = []
  for (let x = 0; x < nodes; x++) {
    const since = upSince.get(x)
    if (!out.has(x) && since != null && since <= healAt) { all.push(x) }
  }
  return (publisher) => all.filter(x => x !== publisher)
}

/** First arrival of each (message, node) by `end`, with its path. */
function firstDeliveries (ev: SimEvent[], end: number): Map<string, { t: number, via: Via }> {
  const first = new Map<string, { t: number, via: Via }>()
  for (const e of ev) {
    if (e.e !== 'deliver' || e.t > end) { continue }
    const k = `${e.m}/${e.n}`
    if (!first.has(k)) { first.set(k, { t: e.t, via: e.via ?? 'unknown' }) }
  }
  return first
}

/** The summary table's lines for the heal figures. */
export function healLines (h: HealFigures): string[] {
  const pct = (x: number | null): string => x == null ? 'n/a' : `${(x * 100).toFixed(2)}%`
  const a = h.afterHealMs
  const lines = [
    `after the heal: ${h.messagesComplete}/${h.cutMessages} cut-time messages reached every node (${pct(h.allNodesRatio)}); delivery ratio ${pct(h.deliveryRatio)} (${h.deliveries}/${h.expectedDeliveries})`,
    `  time after heal to the last node: p50 ${a.p50 ?? 'n/a'} ms, p99 ${a.p99 ?? 'n/a'} ms, max ${a.max ?? 'n/a'} ms (${a.count} complete messages)`,
    h.dtn == null
      ? '  DTN off: every delivery came by gossip (deliveries carry no path tag)'
      : `  delivered by gossip ${h.via.gossip}, by bundle ${h.via.bundle}; across the cut: gossip ${h.via.crossGossip}, bundle ${h.via.crossBundle}; last node reached by gossip ${h.lastVia.gossip}, by bundle ${h.lastVia.bundle}`
  ]
  if (h.dtn != null) { lines.push(`  DTN: ${h.dtn.carried} signatures carried in broadcast bundles, ${h.dtn.accepted} taken from bundles, ${h.dtn.refused} refused; ${h.dtn.held} bundles held at the end (${h.dtn.nodes} nodes)`) }
  lines.push(`  receivers: ${h.rule}`)
  return lines
}

/** The goal for a run with a healed cut: every cut-time message on every node. */
export function healGoal (h: HealFigures): Goal {
  return {
    name: 'cut-time messages on every node after the heal',
    target: '100%',
    value: `${h.allNodesRatio == null ? 'n/a' : `${(h.allNodesRatio * 100).toFixed(2)}%`} (${h.messagesComplete}/${h.cutMessages}; last node ${h.afterHealMs.max ?? 'n/a'} ms after the heal)`,
    pass: h.cutMessages > 0 ? h.allNodesRatio === 1 : null
  }
}
