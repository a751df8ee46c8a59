import { Counter, Gauge, Histogram } from 'prom-client'
import { boundedLabel, OTHER_LABEL } from './bounded-labels.ts'
import { MetricsError } from './errors.ts'
import type { AvgMinMax, Gauge as GossipGauge, Histogram as GossipHistogram, MetricsRegister, TopicStrToLabel } from '@libp2p/gossipsub/metrics'
import type { Registry } from 'prom-client'

/**
 * gossipsub's `metricsRegister` over prom-client, in the caller's registry (the one the libp2p
 * metrics and the mesh metrics use), with every topic label bounded.
 *
 * Two things in gossipsub's own metric set need shaping before Prometheus tooling accepts it.
 * First, it declares every metric as a gauge, also the ~60 it only ever increments and names
 * `..._total`; `promtool check metrics` flags a `_total` gauge, so those become counters here.
 * gossipsub never calls `set` on them: a `set` throws, so a future use cannot pass silently.
 * Second, it labels some gauges by the raw topic string (`topicStr`, camelCase), so any topic a
 * remote peer subscribes to would become a label value. Here that label is `topic`, and its
 * value is the mesh topic's short label or `other`. The few gauges gossipsub names `..._count`
 * (a suffix reserved for histograms) are renamed by GAUGE_NAMES.
 */

/**
 * Gauge names gossipsub ends in `_count`, a suffix Prometheus reserves for histograms and
 * summaries (promtool flags it): renamed to what they count.
 */
const GAUGE_NAMES: Readonly<Record<string, string>> = {
  gossipsub_topic_peer_count: 'gossipsub_topic_peers',
  gossipsub_mesh_peer_count: 'gossipsub_mesh_peers',
  gossipsub_peers_per_protocol_count: 'gossipsub_peers_per_protocol',
  gossipsub_peers_by_score_threshold_count: 'gossipsub_peers_by_score_threshold',
  gossipsub_mcache_not_validated_count: 'gossipsub_mcache_not_validated'
}

/** A gauge's name in Prometheus: renamed per GAUGE_NAMES, any other reserved suffix dropped. */
function gaugeName (name: string): string {
  return GAUGE_NAMES[name] ?? name.replace(/_(count|sum|bucket)$/, '')
}

/** The label names gossipsub uses for a topic (raw `topicStr`, or the mapped `topic`). */
const TOPIC_LABELS = new Set(['topic', 'topicStr'])

/**
 * gossipsub's topic -> label map that never hands out a raw topic: gossipsub falls back to the
 * topic string itself when `get` returns undefined, so unknown topics answer `other` here.
 */
export class BoundedTopicLabels extends Map<string, string> {
  get (topic: string): string {
    return super.get(topic) ?? OTHER_LABEL
  }
}

export interface GossipsubMetricsInit {
  registry: Registry
  /** The mesh's topics and their short labels, e.g. `/dadm-mesh/crl/1` -> `crl`. */
  topics: Record<string, string>
}

/** What to pass to gossipsub: `{ metricsRegister, metricsTopicStrToLabel }`. */
export interface GossipsubMetricsOptions {
  metricsRegister: MetricsRegister
  metricsTopicStrToLabel: TopicStrToLabel
}

/** Builds gossipsub's metric options over `init.registry` (call once per registry: names are registered once). */
export function gossipsubMetrics (init: GossipsubMetricsInit): GossipsubMetricsOptions {
  const labels = new BoundedTopicLabels(Object.entries(init.topics))
  const allowed = new Set(labels.values())
  // Values of a topic label: a known topic's label, a label gossipsub already mapped, else `other`.
  const topicValue = (v: string | number): string => {
    const s = String(v)
    return allowed.has(s) ? s : labels.get(s)
  }
  const register: MetricsRegister = {
    gauge: (config: any) => gauge(init.registry, config, topicValue) as any,
    histogram: (config: any) => histogram(init.registry, config, topicValue) as any,
    avgMinMax: (config: any) => avgMinMax(init.registry, config, topicValue) as any
  }
  return { metricsRegister: register, metricsTopicStrToLabel: labels }
}

type Labels = Record<string, string | number>
interface Config { name: string, help: string, labelNames?: string[], buckets?: number[] }

/** gossipsub's label names as Prometheus sees them (snake_case `topic` for `topicStr`). */
function promLabelNames (names: string[] = []): string[] {
  return [...new Set(names.map(n => TOPIC_LABELS.has(n) ? 'topic' : n))]
}

function mapLabels (labels: Labels, topicValue: (v: string | number) => string): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const [k, v] of Object.entries(labels)) {
    if (TOPIC_LABELS.has(k)) { out.topic = topicValue(v) } else { out[k] = boundedLabel(v) }
  }
  return out
}

/** gossipsub's calls come as `(labels, value)` or `(value)`; splits them. */
function split (a: unknown, b: unknown): { labels?: Labels, value?: number } {
  if (typeof a === 'object' && a != null) { return { labels: a as Labels, ...(typeof b === 'number' ? { value: b } : {}) } }
  return typeof a === 'number' ? { value: a } : {}
}

function gauge (registry: Registry, config: Config, topicValue: (v: string | number) => string): GossipGauge<any> {
  const collectors: Array<(g: GossipGauge<any>) => void> = []
  const labelNames = promLabelNames(config.labelNames)
  if (config.name.endsWith('_total')) { return counterGauge(registry, config, labelNames, topicValue, collectors) }
  const self: GossipGauge<any> = {
    inc: ((a?: unknown, b?: unknown) => {
      const { labels, value } = split(a, b)
      if (labels != null) { g.inc(mapLabels(labels, topicValue), value ?? 1) } else { g.inc(value ?? 1) }
    }) as any,
    set: ((a: unknown, b?: unknown) => {
      const { labels, value } = split(a, b)
      if (labels != null) { g.set(mapLabels(labels, topicValue), value ?? 0) } else { g.set(value ?? 0) }
    }) as any,
    addCollect: (fn) => { collectors.push(fn) }
  }
  const g = new Gauge({
    name: gaugeName(config.name),
    help: config.help,
    labelNames,
    registers: [registry],
    collect: () => { for (const c of collectors) { c(self) } }
  })
  return self
}

/** A `_total` "gauge" that gossipsub only increments: a Prometheus counter. */
function counterGauge (registry: Registry, config: Config, labelNames: string[], topicValue: (v: string | number) => string, collectors: Array<(g: GossipGauge<any>) => void>): GossipGauge<any> {
  const self: GossipGauge<any> = {
    inc: ((a?: unknown, b?: unknown) => {
      const { labels, value } = split(a, b)
      // A counter only goes up; gossipsub increments these by counts, never by a negative.
      if ((value ?? 1) < 0) { return }
      if (labels != null) { c.inc(mapLabels(labels, topicValue), value ?? 1) } else { c.inc(value ?? 1) }
    }) as any,
    set: (() => { throw new MetricsError('METRIC_CONFLICT', `${config.name} is a counter: gossipsub is expected to only increment it`) }) as any,
    addCollect: (fn) => { collectors.push(fn) }
  }
  const c = new Counter({
    name: config.name,
    help: config.help,
    labelNames,
    registers: [registry],
    collect: () => { for (const fn of collectors) { fn(self) } }
  })
  return self
}

function histogram (registry: Registry, config: Config, topicValue: (v: string | number) => string): GossipHistogram<any> {
  const h = new Histogram({
    name: config.name,
    help: config.help,
    labelNames: promLabelNames(config.labelNames),
    registers: [registry],
    ...(config.buckets != null ? { buckets: config.buckets } : {})
  })
  return {
    startTimer: () => h.startTimer(),
    observe: ((a: unknown, b?: unknown) => {
      const { labels, value } = split(a, b)
      if (labels != null) { h.observe(mapLabels(labels, topicValue), value ?? 0) } else { h.observe(value ?? 0) }
    }) as any,
    reset: () => { h.reset() }
  }
}

/** gossipsub's avg/min/max of a sample (scores): three gauges, `<name>_avg`, `_min`, `_max`. */
function avgMinMax (registry: Registry, config: Config, topicValue: (v: string | number) => string): AvgMinMax<any> {
  const labelNames = promLabelNames(config.labelNames)
  const make = (suffix: string): Gauge => new Gauge({ name: `${gaugeName(config.name)}_${suffix}`, help: `${config.help} (${suffix})`, labelNames, registers: [registry] })
  const avg = make('avg')
  const min = make('min')
  const max = make('max')
  return {
    set: ((a: unknown, b?: unknown) => {
      const labels = Array.isArray(a) ? undefined : a as Labels
      const values = (Array.isArray(a) ? a : b) as number[]
      if (values == null || values.length === 0) { return }
      let lo = Infinity
      let hi = -Infinity
      let sum = 0
      for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); sum += v }
      const l = labels != null ? mapLabels(labels, topicValue) : {}
      avg.set(l, sum / values.length)
      min.set(l, lo)
      max.set(l, hi)
    }) as any
  }
}
