import { expect } from 'aegir/chai'
import { createNotice, decodeNotice, NOTICE_TOPIC } from '../../../protocols/rotate-now/index.ts'
import { createTestCa } from '../fixtures.ts'
import { createLifecycleMesh } from './harness.ts'
import type { LifecycleMesh } from './harness.ts'
import type { NoticeEvent, NoticeRefusedEvent, RotatedEvent } from '../../../src/node/lifecycle/index.ts'
import type { NodeRuntime } from '../../../src/node/runtime/node-runtime.ts'
import type { TestCa } from '../fixtures.ts'

/**
 * Issue 9: CA notices travel "through gossip plus push". Here the push is switched off on every
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
  const rs: NodeRuntime[] = []
  const rotations: RotatedEvent[][] = []
  const notices: NoticeEvent[][] = []
  const refusals: NoticeRefusedEvent[][] = []

  const waitFor = async (check: () => boolean, ms: number): Promise<void> => {
    const until = performance.now() + ms
    while (!check()) {
      if (performance.now() > until) { throw new Error(`condition not met within ${ms} ms`) }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  before(async () => {
    rogue = await createTestCa('rogue-gossip')
    mesh = await createLifecycleMesh('notice-gossip', { speed: 1, certSeconds: 3600, rotateNowSpreadMs: SPREAD_MS })
    const dirs: string[] = []
    for (let i = 0; i < N; i++) { dirs.push(await mesh.enroll(`ng-${i}`)) }
    for (let i = 0; i < N; i++) {
      const r = await mesh.start(dirs[i], 100 + i, [], { lifecycle: { noticePaths: { push: false } } })
      rs.push(r)
      rotations.push([])
      notices.push([])
      refusals.push([])
      r.lifecycle.rotation.addEventListener('rotated', (e) => { rotations[i].push(e.detail) })
      r.lifecycle.notices.addEventListener('notice', (e) => { notices[i].push(e.detail) })
      r.lifecycle.notices.addEventListener('notice:refused', (e) => { refusals[i].push(e.detail) })
    }
    for (let i = 0; i + 1 < N; i++) { await rs[i].node.dial(rs[i + 1].node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) }) }
    // Every inner node has both neighbours as NOTICE_TOPIC peers (subscriptions travel after auth).
    await waitFor(() => rs.every((r, i) => (r.node.gossip?.pubsub.getSubscribers(NOTICE_TOPIC).length ?? 0) === (i === 0 || i === N - 1 ? 1 : 2)), 10_000)
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
    await waitFor(() => refusals[1].length > 0, 5_000)
    await new Promise(resolve => setTimeout(resolve, 1_500))
    expect(refusals.map(r => r.map(x => [x.code, x.action]))).to.deep.equal([[], [['UNTRUSTED_SIGNER', 'reject']], ...rs.slice(2).map(() => [])])
    expect(notices.map(n => n.length)).to.deep.equal(rs.map(() => 0))
    expect(rotations.map(r => r.length)).to.deep.equal(rs.map(() => 0))
  })

  it('a rotate-now for all, handed to one end, reaches the other end by gossip and every node rotates', async () => {
    const bytes = await mesh.svc.service.rotateNow({}, mesh.clock.now())
    const digest = decodeNotice(bytes).digest
    expect(await rs[0].lifecycle.publish(bytes)).to.deep.equal({ ok: true })
    await waitFor(() => notices.every(n => n.some(e => e.digest === digest && e.applied)), 10_000)
    // Each node heard it once: from the operator at node 0, from its left neighbour elsewhere.
    expect(notices.map(n => n.filter(e => e.digest === digest).map(e => e.from))).to.deep.equal(rs.map((_, i) => [i === 0 ? 'local' : rs[i - 1].node.peerId.toString()]))
    await waitFor(() => rotations.every(r => r.length === 1), SPREAD_MS + 10_000)
    for (const r of rotations) { expect(r[0]).to.include({ reason: 'rotate-now', renewed: false }) }
    for (let i = 0; i + 1 < N; i++) { expect(rs[i].node.isAuthenticated(rs[i + 1].node.peerId)).to.equal(true) }
  })
})
