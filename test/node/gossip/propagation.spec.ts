import { expect } from 'aegir/chai'
import { ANOMALY_TOPIC } from '../../../protocols/anomaly-gossip/index.ts'
import { createTestCa, enroll, waitForEvent } from '../fixtures.ts'
import { link, startGossipNode, stopAll, waitMeshed } from '../gossip-fixtures.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'
import type { TestCa } from '../fixtures.ts'
import type { GossipNode } from '../gossip-fixtures.ts'

/**
 * Gossip propagation: a signature published on node A of a 10-node line reaches every node's
 * anomaly store exactly once; closing the line into a ring (two paths to every node) changes
 * nothing about "exactly once". Real QUIC on loopback, each node on its own 127.0.0.x address.
 */
const N = 10

describe('anomaly gossip: propagation over a 10-node QUIC line and ring', function () {
  this.timeout(120_000)
  let tca: TestCa
  const nodes: GossipNode[] = []
  /** Every anomaly event seen, per node: message_id -> count. */
  const arrivals: Array<Map<string, number>> = []

  before(async () => {
    tca = await createTestCa('gossip-line')
    for (let i = 0; i < N; i++) {
      const n = await startGossipNode(`n${i}`, await enroll(tca, `line-${i}`), tca, { host: 20 + i })
      const seen = new Map<string, number>()
      n.node.addEventListener('anomaly', (e) => { seen.set(e.detail.message_id, (seen.get(e.detail.message_id) ?? 0) + 1) })
      nodes.push(n)
      arrivals.push(seen)
    }
    // 1. A line n0 - n1 - ... - n9, each link authenticated and in both topic meshes.
    for (let i = 0; i + 1 < N; i++) { await link(nodes[i], nodes[i + 1]) }
    await waitMeshed(nodes.slice(1).map((n, i) => [nodes[i], n]))
  })

  after(async () => {
    await stopAll(nodes)
    await tca?.close()
  })

  async function publishAndWait (type: string): Promise<string> {
    const waits = nodes.slice(1).map(async n => waitForEvent<AnomalyRecord>(n.node, 'anomaly', r => r.payload.type === type, 20_000))
    const published = await nodes[0].node.publishAnomaly({ type, value: 'f'.repeat(64), meta: { rule: 'r-1' } }, { ttl: 600 })
    const records = await Promise.all(waits)
    for (const r of records) { expect(r.message_id).to.equal(published.messageId) }
    return published.messageId
  }

  it('reaches all ten stores exactly once along the line', async () => {
    const id = await publishAndWait('sha256')
    // A second message behind it: anything still in flight for the first would have landed by now.
    await publishAndWait('rule')
    for (let i = 0; i < N; i++) {
      expect(arrivals[i].get(id), `n${i}`).to.equal(1)
      const held = await nodes[i].node.anomalies.list({ limit: 10 })
      expect(held.filter(r => r.message_id === id), `n${i}`).to.have.length(1)
      expect(await nodes[i].node.anomalies.get(id)).to.include({ message_id: id, origin: 'line-0', source: i === 0 ? 'local' : 'gossip' })
    }
    // Relayed hop by hop: n_i heard it from n_(i-1).
    for (let i = 1; i < N; i++) { expect((await nodes[i].node.anomalies.get(id))?.relay).to.equal(nodes[i - 1].peerId) }
    for (const n of nodes.slice(1)) {
      expect(n.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'accept')).to.equal(2)
      expect(n.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject')).to.equal(0)
    }
  })

  it('closed into a ring (two paths everywhere), still exactly once', async () => {
    await link(nodes[N - 1], nodes[0])
    await waitMeshed([[nodes[N - 1], nodes[0]]])
    const id = await publishAndWait('ioc.domain')
    await publishAndWait('ioc.ip')
    for (let i = 0; i < N; i++) { expect(arrivals[i].get(id), `n${i}`).to.equal(1) }
    for (const n of nodes) { expect(n.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject')).to.equal(0) }
  })
})
