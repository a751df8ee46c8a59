import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Metrics } from '@libp2p/interface'
import type { Registry } from 'prom-client'

/**
 * libp2p's metrics (`@libp2p/prometheus-metrics`) in the caller's registry, with the names its
 * components choose made acceptable to `promtool check metrics`. libp2p registers some gauges
 * under `..._total` names (current streams per protocol, routing-table sizes) and some histograms
 * in `..._milliseconds`; promtool rejects both (a `_total` name is a counter's; the base unit is
 * seconds). So the names change, and where a unit changes, the values with it. A gauge loses
 * its `_total` suffix (`libp2p_protocol_streams_total` becomes `libp2p_protocol_streams`), and a
 * name left ending in a suffix Prometheus reserves for histograms is fixed too
 * (`..._kad_bucket_total` becomes `..._kad_buckets`). A counter gets the `_total` suffix it
 * lacks. A gauge in `_milliseconds` (libp2p's adaptive timeouts report moving averages in ms)
 * is registered in `_seconds`, and every value it is given is divided by 1000.
 */

type Kind = 'gauge' | 'counter' | 'distribution'

const KINDS: Readonly<Record<string, Kind>> = {
  registerMetric: 'gauge',
  registerMetricGroup: 'gauge',
  registerCounter: 'counter',
  registerCounterGroup: 'counter',
  registerHistogram: 'distribution',
  registerHistogramGroup: 'distribution',
  registerSummary: 'distribution',
  registerSummaryGroup: 'distribution'
}

const MS = /_milliseconds(?=_|$)/

/** The Prometheus name for a libp2p metric `name` registered as `kind`. */
export function promtoolSafeName (name: string, kind: Kind): string {
  let n = name.replace(MS, '_seconds')
  if (kind === 'gauge') {
    n = n.replace(/_total$/, '').replace(/_bucket$/, '_buckets').replace(/_(count|sum)$/, '')
  }
  if (kind === 'counter' && !n.endsWith('_total')) { n = `${n}_total` }
  return n
}

/** Renames every metric `inner` registers (see promtoolSafeName); everything else passes through. */
export function promtoolSafeMetrics (inner: Metrics): Metrics {
  return new Proxy(inner, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') { return value }
      const kind = typeof prop === 'string' ? KINDS[prop] : undefined
      if (kind == null) { return value.bind(target) }
      return (name: string, opts?: Record<string, unknown>) => {
        const toSeconds = kind === 'gauge' && MS.test(name)
        const registered = value.call(target, promtoolSafeName(name, kind), toSeconds ? secondsOptions(opts) : opts)
        return toSeconds && registered != null ? inSeconds(registered) : registered
      }
    }
  })
}

/** Divides what a gauge (or gauge group) registered in ms is given by 1000. */
function inSeconds (metric: Record<string, any>): Record<string, any> {
  const scale = (v: unknown): unknown => {
    if (typeof v === 'number') { return v / 1000 }
    if (typeof v === 'object' && v != null) { return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'number' ? x / 1000 : x])) }
    return v
  }
  return new Proxy(metric, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') { return value }
      if (prop === 'update' || prop === 'increment' || prop === 'decrement') { return (v: unknown) => value.call(target, scale(v)) }
      return value.bind(target)
    }
  })
}

/** A calculated gauge in ms: its `calculate` result is scaled the same way. */
function secondsOptions (opts?: Record<string, unknown>): Record<string, unknown> | undefined {
  const calculate = opts?.calculate
  if (typeof calculate !== 'function') { return opts }
  return {
    ...opts,
    calculate: async () => {
      const v = await calculate()
      if (typeof v === 'number') { return v / 1000 }
      return Object.fromEntries(Object.entries(v as Record<string, number>).map(([k, x]) => [k, x / 1000]))
    }
  }
}

/**
 * The `metrics` factory for `createLibp2p`: libp2p's Prometheus metrics in `registry`, renamed
 * for promtool. Process metrics are the registry's own (createProcessRegistry), not libp2p's.
 * `@libp2p/prometheus-metrics` keeps a module-wide table of metric names that each new instance
 * clears, so a process runs one metrics-enabled node per registry.
 */
export function libp2pPrometheusMetrics (registry: Registry): (components: any) => Metrics {
  const factory = prometheusMetrics({ registry, collectDefaultMetrics: false })
  return (components) => promtoolSafeMetrics(factory(components))
}
