import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

/**
 * The one registry of a process. libp2p's metrics (`@libp2p/prometheus-metrics`), gossipsub's
 * `metricsRegister` and the mesh and CA metrics all register into it, so `/metrics` renders one
 * consistent text. Process metrics (CPU, memory, event-loop lag, GC) are collected here once:
 * a CA that also runs a mesh node would otherwise register them twice.
 *
 * prom-client's defaults include three gauges named `..._total` (`nodejs_active_handles_total`,
 * `_requests_total`, `_resources_total`), which `promtool check metrics` rejects: a `_total`
 * name is a counter's. Each is the sum of the per-type gauge beside it (`nodejs_active_handles`
 * by `type`, ...), so they are dropped and nothing is lost.
 */
export function createProcessRegistry (options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry()
  if (options.processMetrics !== false) {
    collectDefaultMetrics({ register: registry })
    for (const m of registry.getMetricsAsArray()) {
      const name = (m as unknown as { name: string }).name
      if (m instanceof Gauge && name.endsWith('_total')) { registry.removeSingleMetric(name) }
    }
  }
  return registry
}
