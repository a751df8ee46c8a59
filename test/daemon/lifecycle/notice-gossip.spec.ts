import { expect } from 'aegir/chai'
import { createNotice, decodeNotice, NOTICE_TOPIC } from '../../../protocols/rotate-now/index.ts'
import { createTestCa, eventually } from '../../node/fixtures.ts'
import { createLifecycleMesh, startNoticeLine } from './harness.ts'
import type { LifecycleMesh } from './harness.ts'
import type { NoticeEvent, NoticeRefusedEvent, RotatedEvent } from '../../../src/daemon/lifecycle/index.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { TestCa } from '../../node/fixtures.ts'

/**
 * CA notices travel through gossip plus push, so either alone must carry them. Here the push is switched off on every
 * node (`noticePaths: { push: false }`), so gossipsub on NOTICE_TOPIC is the only carrier: six
 * node runtimes in a line over QUIC, each linked to the next only. A rotate-now for every node,
 * handed to one end, reaches the other end hop by hop through the notice validator and makes
 * every node rotate; a notice signed by another CA and published raw on the topic is rejected
 * by the first node's validator (so gossipsub never forwards it) and changes nothing.
 */
const N = 6
const SPREAD_MS = 2_000

describe('lifecycle: CA notices over gossip alone (push off), 6-node QUIC line', function () {
  let mesh: LifecycleMesh
  let rogue: TestCa
  let rs: NodeRuntime[]
  let rotations: RotatedEvent[][]
  let notices: NoticeEvent[][]
  let refusals: NoticeRefusedEvent[][]

  before(async () => {
    rogue = await createTestCa('rogue-gossip')
    mesh = await createLifecycleMesh('notice-gossip', { speed: 1, certSeconds: 3600, rotateNowSpreadMs: SPREAD_MS })
    ;({ rs, rotations, notices, refusals } = await startNoticeLine(mesh, 'ng', N, 100, { lifecycle: { noticePaths: { push: false } } }))
    // Every inner node has both neighbours as NOTICE_TOPIC peers (subscriptions travel after auth).
    await eventually(() => rs.every((r, i) => (r.node.gossip?.pubsub.getSubscribers(NOTICE_TOPIC).length ?? 0) === (i === 0 || i === N - 1 ? 1 : 2)), 10_000)
  })
  after(async () => {
    await mesh?.cleanup()
    await rogue?.close()
  })

  it('runs without the push protocol: the notice topic is the only carrier', () => {
    for (const r of rs) {
      expect(r.lifecycle.noticeGossip?.topic).to.equal(NOTICE_TOPIC)
      expect(r.node.libp2p.getProtocols()).to.not.include('/dadm-mesh/rotate/1.0.0')
    }
  })

  it('a notice from another CA published on the topic is rejected by the first validator and goes no further', async () => {
    const now = mesh.clock.ms()
    const forged = await createNotice({ kind: 'rotate-now', seq: now, iat: now, exp: now + 3600_000 }, async d => rogue.ca.signNotice(d, 'issuing'))
    // Node 0 plays the hostile relay: it publishes the bytes raw, without judging them.
    await rs[0].node.gossip?.pubsub.publish(NOTICE_TOPIC, forged)
    await eventually(() => refusals[1].length > 0, 5_000)
    await new Promise(resolve => setTimeout(resolve, 1_500))
    expect(refusals.map(r => r.map(x => [x.code, x.action]))).to.deep.equal([[], [['UNTRUSTED_SIGNER', 'reject']], ...rs.slice(2).map(() => [])])
    expect(notices.map(n => n.length)).to.deep.equal(rs.map(() => 0))
    expect(rotations.map(r => r.length)).to.deep.equal(rs.map(() => 0))
  })

  it('a rotate-now for all, handed to one end, reaches the other end by gossip and every node rotates', async () => {
    const bytes = await mesh.svc.service.rotateNow({}, mesh.clock.now())
    const digest = decodeNotice(bytes).digest
    expect(await rs[0].lifecycle.publish(bytes)).to.deep.equal({ ok: true })
    await eventually(() => notices.every(n => n.some(e => e.digest === digest && e.applied)), 10_000)
    // Each node heard it once: from the operator at node 0, from its left neighbour elsewhere.
    expect(notices.map(n => n.filter(e => e.digest === digest).map(e => e.from))).to.deep.equal(rs.map((_, i) => [i === 0 ? 'local' : rs[i - 1].node.peerId.toString()]))
    await eventually(() => rotations.every(r => r.length === 1), SPREAD_MS + 10_000)
    for (const r of rotations) { expect(r[0]).to.include({ reason: 'rotate-now', renewed: false }) }
    for (let i = 0; i + 1 < N; i++) { expect(rs[i].node.isAuthenticated(rs[i + 1].node.peerId)).to.equal(true) }
  })
})
