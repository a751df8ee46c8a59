import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { Registry } from 'prom-client'
import { libp2pPrometheusMetrics, promtoolSafeName } from '../../src/metrics/index.ts'
import { hasPrometheusTools, NEEDS_PROMETHEUS, promtoolCheckMetrics } from './tools.ts'

/**
 * libp2p's metrics under names promtool accepts: the renames, and a gauge in milliseconds that
 * becomes seconds with its values divided, through the same Metrics object libp2p's components use.
 */
describe('libp2p metrics under promtool-safe names', function () {
  it('renames: gauge `_total` dropped, counter `_total` added, `_milliseconds` to `_seconds`, reserved suffixes fixed', () => {
    expect(promtoolSafeName('libp2p_protocol_streams_total', 'gauge')).to.equal('libp2p_protocol_streams')
    expect(promtoolSafeName('dadm_mesh_kad_routing_table_kad_bucket_total', 'gauge')).to.equal('dadm_mesh_kad_routing_table_kad_buckets')
    expect(promtoolSafeName('libp2p_dialler_pending_count', 'gauge')).to.equal('libp2p_dialler_pending')
    expect(promtoolSafeName('dadm_mesh_auth_results_total', 'counter')).to.equal('dadm_mesh_auth_results_total')
    expect(promtoolSafeName('libp2p_dial_errors', 'counter')).to.equal('libp2p_dial_errors_total')
    expect(promtoolSafeName('libp2p_connection_monitor_ping_time_milliseconds', 'gauge')).to.equal('libp2p_connection_monitor_ping_time_seconds')
    expect(promtoolSafeName('x_milliseconds', 'distribution')).to.equal('x_seconds')
  })

  it('a gauge group libp2p registers in milliseconds reports seconds; counters and groups land in the caller\'s registry', async () => {
    const registry = new Registry()
    const metrics = libp2pPrometheusMetrics(registry)({ logger: defaultLogger() })
    // What @libp2p/utils' AdaptiveTimeout registers and updates.
    const group = metrics.registerMetricGroup('dadm_test_send_times_milliseconds')
    group.update({ successMovingAverage: 1500 })
    const counter = metrics.registerCounterGroup('dadm_test_results_total', { label: 'code' })
    counter.increment({ OK: true })
    const streams = metrics.registerMetricGroup('dadm_test_protocol_streams_total', { label: 'protocol' })
    streams.update({ '/x/1': 2 })
    const text = await registry.metrics()
    expect(text).to.include('dadm_test_send_times_seconds{dadm_test_send_times_seconds="successMovingAverage"} 1.5')
    expect(text).to.not.include('milliseconds')
    expect(text).to.include('dadm_test_results_total{code="OK"} 1')
    expect(text).to.include('dadm_test_protocol_streams{protocol="/x/1"} 2')
    expect(text).to.not.include('dadm_test_protocol_streams_total')
  })

  it('the renamed set passes promtool check metrics', async function () {
    if (!hasPrometheusTools()) { return this.skip() } // NEEDS_PROMETHEUS
    const registry = new Registry()
    const metrics = libp2pPrometheusMetrics(registry)({ logger: defaultLogger() })
    metrics.registerMetricGroup('dadm_test_send_times_milliseconds').update({ successMovingAverage: 1500 })
    metrics.registerMetric('dadm_test_buckets_total').update(3)
    metrics.registerCounter('dadm_test_events').increment()
    const run = await promtoolCheckMetrics(await registry.metrics())
    expect(run.stdout + run.stderr, NEEDS_PROMETHEUS).to.equal('')
    expect(run.code).to.equal(0)
  })
})
