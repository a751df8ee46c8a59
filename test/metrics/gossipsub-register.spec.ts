import { getMetrics } from '@libp2p/gossipsub/metrics'
import { expect } from 'aegir/chai'
import { Registry } from 'prom-client'
import { gossipsubMetrics, OTHER_LABEL } from '../../src/metrics/index.ts'
import { hasPrometheusTools, NEEDS_PROMETHEUS, promtoolCheckMetrics } from './tools.ts'

/**
 * gossipsub's metric set through our prom-client register: the `_total` gauges it only increments
 * are counters, every topic label is bounded to the mesh's topics plus `other`, and the whole set
 * passes `promtool check metrics`. gossipsub's own `getMetrics` registers the set, exactly as
 * gossipsub does at start.
 */
const TOPICS = { '/dadm-mesh/anomaly/1': 'anomaly', '/dadm-mesh/crl/1': 'crl' }

function setUp (): { registry: Registry, metrics: ReturnType<typeof getMetrics> } {
  const registry = new Registry()
  const opts = gossipsubMetrics({ registry, topics: TOPICS })
  const metrics = getMetrics(opts.metricsRegister, opts.metricsTopicStrToLabel, { gossipPromiseExpireSec: 3, behaviourPenaltyThreshold: 6, maxMeshMessageDeliveriesWindowSec: 2 })
  return { registry, metrics }
}

describe('gossipsub metrics register', function () {
  it('a topic no mesh service uses is counted under `other`, never as its own label value', async () => {
    const { registry, metrics } = setUp()
    // 1. A remote peer's topics reach every topic-labelled path gossipsub has.
    const hostile = ['/evil/topic-1', '/evil/topic-2', 'x'.repeat(500)]
    for (const t of hostile) {
      metrics.onJoin(t)
      metrics.topicPeersCount.set({ topicStr: t }, 3)
      metrics.onMsgRecvPreValidation(t)
      metrics.onForwardMsg(t, 2)
    }
    metrics.onMsgRecvPreValidation('/dadm-mesh/crl/1')
    const text = await registry.metrics()
    // 2. None of them became a label value; all of them landed in `other`; mesh topics keep their label.
    for (const t of hostile) { expect(text).to.not.include(t.slice(0, 20)) }
    expect(text).to.include(`gossipsub_msg_received_prevalidation_total{topic="${OTHER_LABEL}"} 3`)
    expect(text).to.include('gossipsub_msg_received_prevalidation_total{topic="crl"} 1')
    expect(text).to.include(`gossipsub_topic_peers{topic="${OTHER_LABEL}"} 3`)
    // camelCase `topicStr` is renamed to `topic`
    expect(text).to.not.include('topicStr')
  })

  it('the `_total` metrics gossipsub declares as gauges are counters, and a `set` on one throws METRIC_CONFLICT', async () => {
    const { registry, metrics } = setUp()
    metrics.rpcRecvCount.inc(2)
    const text = await registry.metrics()
    expect(text).to.include('# TYPE gossipsub_rpc_recv_count_total counter')
    expect(text).to.include('gossipsub_rpc_recv_count_total 2')
    // gauges that are gauges stay gauges
    expect(text).to.include('# TYPE gossipsub_mesh_peers gauge')
    expect(() => { (metrics.rpcRecvCount as any).set(5) }).to.throw().with.property('code', 'METRIC_CONFLICT')
    expect(await registry.metrics()).to.include('gossipsub_rpc_recv_count_total 2')
  })

  it('gossipsub\'s whole metric set passes promtool check metrics', async function () {
    if (!hasPrometheusTools()) { return this.skip() } // NEEDS_PROMETHEUS
    const { registry, metrics } = setUp()
    metrics.onJoin('/dadm-mesh/crl/1')
    metrics.onPublishMsg('/dadm-mesh/crl/1', { direct: 0, floodsub: 0, mesh: 2, fanout: 0 }, 2, 100, 3)
    metrics.registerScores([1, -2, 3], { gossipThreshold: -10, publishThreshold: -50, graylistThreshold: -80, acceptPXThreshold: 10, opportunisticGraftThreshold: 1 })
    const text = await registry.metrics()
    const run = await promtoolCheckMetrics(text)
    expect(run.stdout + run.stderr, NEEDS_PROMETHEUS).to.equal('')
    expect(run.code).to.equal(0)
  })
})
