/* eslint-disable jsdoc/check-indentation -- the doc comment holds a diagram */
import { expect } from 'aegir/chai'
import { ANOMALY_TOPIC, envelopeDigest } from '../../../protocols/anomaly-gossip/index.ts'
import { gossipApiSource } from '../../../src/daemon/api/routes/gossip.ts'
import { encoded, envelopeFrom } from '../../protocols/anomaly-gossip/fixtures.ts'
import { createTestCa, enroll, eventually, now } from '../fixtures.ts'
import { link, startGossipNode, stopAll, waitMeshed } from '../gossip-fixtures.ts'
import type { EquivocationReport } from '../../../protocols/anomaly-gossip/index.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'
import type { TestCa } from '../fixtures.ts'
import type { GossipNode } from '../gossip-fixtures.ts'

/**
 * An equivocating origin, end to end over QUIC. E is one enrolled member (one key, one
 * certificate) running as two libp2p nodes, E1 and E2, so that it can hand each side of the mesh
 * its own version of one message_id; both versions are signed by E's gossip key and carry E's
 * real chain, as a malicious member would send them.
 *
 *   E1 ── B ── C ── E2
 *              │
 *              D
 *
 * E1 publishes version 1 and E2 version 2 at the same moment. Which version a node hears first
 * depends on timing; what must hold for every node is: it keeps the first version it heard (store
 * and `anomaly` event, once), a second version is refused as CONFLICTING_PAYLOAD and counted, an
 * equivocation event names E on each node that heard both, and a refused version is never stored
 * or forwarded (D, behind C only, never hears two).
 */
describe('anomaly gossip: an equivocating origin over QUIC', function () {
  this.timeout(120_000)
  let tca: TestCa
  let e1: GossipNode, e2: GossipNode, b: GossipNode, c: GossipNode, d: GossipNode

  before(async () => {
    tca = await createTestCa('gossip-equivocation')
    const e = await enroll(tca, 'node-e')
    e1 = await startGossipNode('e1', e, tca, { host: 110 })
    e2 = await startGossipNode('e2', e, tca, { host: 111 })
    b = await startGossipNode('b', await enroll(tca, 'node-b'), tca, { host: 112 })
    c = await startGossipNode('c', await enroll(tca, 'node-c'), tca, { host: 113 })
    d = await startGossipNode('d', await enroll(tca, 'node-d'), tca, { host: 114 })
    await link(e1, b)
    await link(b, c)
    await link(e2, c)
    await link(c, d)
    await waitMeshed([[e1, b], [b, c], [e2, c], [c, d]])
  })

  after(async () => {
    await stopAll([e1, e2, b, c, d])
    await tca?.close()
  })

  it('both versions published to different peers: every node keeps the first it heard, refuses the second (CONFLICTING_PAYLOAD) and names the origin', async () => {
    const honest = [b, c, d]
    const neighbours = new Map<GossipNode, GossipNode[]>([[b, [e1, c]], [c, [b, e2, d]], [d, [c]]])
    // 1. Two versions of one message_id by E: same id, timestamp and expiry, other payloads.
    const v1 = envelopeFrom(e1.enrolled, { payload: { type: 'sha256', value: '1'.repeat(64) } })
    const v2 = envelopeFrom(e1.enrolled, { messageId: v1.message_id, now: v1.timestamp, payload: { type: 'sha256', value: '2'.repeat(64) } })
    const mid = v1.message_id
    const digests = [envelopeDigest(v1), envelopeDigest(v2)]
    const sent = new Map<GossipNode, string>([[e1, digests[0]], [e2, digests[1]]])

    // What each honest node announces: its first (and only) stored version, and its equivocation reports.
    const first = new Map<GossipNode, AnomalyRecord[]>()
    const reports = new Map<GossipNode, EquivocationReport[]>()
    for (const n of honest) {
      first.set(n, [])
      reports.set(n, [])
      n.node.addEventListener('anomaly', (evt) => { if (evt.detail.message_id === mid) { first.get(n)?.push(evt.detail) } })
      n.node.addEventListener('anomaly:equivocation', (evt) => { reports.get(n)?.push(evt.detail) })
    }
    const held = (n: GossipNode): string | undefined => sent.get(n) ?? n.gossip.anomalies.seen(mid)?.digest
    const conflicts = (n: GossipNode): number => n.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'ignore', 'CONFLICTING_PAYLOAD')

    // 2. E1 hands version 1 to B, E2 version 2 to C, at once.
    await Promise.all([
      e1.pubsub.publish(ANOMALY_TOPIC, encoded(v1)),
      e2.pubsub.publish(ANOMALY_TOPIC, encoded(v2))
    ])

    // 3. Settled: every node holds a version, and has either heard the other one (and refused
    // it) or has only neighbours holding its own (nothing else can still reach it).
    const settled = (n: GossipNode): boolean => held(n) != null &&
      (conflicts(n) > 0 || (neighbours.get(n) ?? []).every(m => held(m) === held(n)))
    await eventually(() => honest.every(settled), 20_000)

    for (const n of honest) {
      const mine = held(n) as string
      const other = digests.find(x => x !== mine)
      // 4. The first version heard stays: announced once, stored, and the store holds nothing else of E.
      expect(first.get(n)?.map(r => r.digest), n.name).to.deep.equal([mine])
      const stored = await n.node.anomalies.get(mid)
      expect(stored?.digest, n.name).to.equal(mine)
      expect(stored?.payload.value, n.name).to.equal(mine === digests[0] ? '1'.repeat(64) : '2'.repeat(64))
      expect((await n.node.anomalies.list({ origin: 'node-e' })).map(r => r.digest), n.name).to.deep.equal([mine])
      // 5. A node that heard both refused the second as CONFLICTING_PAYLOAD, counted once, and
      // raised one report naming E (node_id and the PeerId whose key signed both).
      if (conflicts(n) > 0) {
        expect(conflicts(n), n.name).to.equal(1)
        expect(reports.get(n), n.name).to.have.length(1)
        expect(reports.get(n)?.[0], n.name).to.include({ nodeId: 'node-e', peerId: e1.peerId, messageId: mid, heldDigest: mine, conflictingDigest: other })
        expect(n.gossip.anomaly.equivocations.origins().map(o => [o.nodeId, o.conflicts]), n.name).to.deep.equal([['node-e', 1]])
        // What the node admin API shows (`GET /v1/mesh/gossip/equivocations`).
        const listed = gossipApiSource(n.gossip, now).equivocations?.()
        expect(listed?.origins.map(o => [o.node_id, o.peer_id, o.conflicts]), n.name).to.deep.equal([['node-e', e1.peerId, 1]])
        expect(listed?.recent.map(r => r.message_id), n.name).to.deep.equal([mid])
      } else {
        expect(reports.get(n), n.name).to.deep.equal([])
        expect(n.gossip.anomaly.equivocations.conflicts, n.name).to.equal(0)
      }
      // Nothing was punished as invalid on the way: refusing a version is no verdict on the relay.
      expect(n.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject'), n.name).to.equal(0)
    }

    // 6. Someone always hears both (B and C each heard their version straight from E), and the
    // refused version travels no further: D, behind C only, holds C's version and heard no other.
    expect(honest.filter(n => conflicts(n) > 0)).to.not.have.length(0)
    expect(held(d)).to.equal(held(c))
    expect(conflicts(d)).to.equal(0)
  })
})
