import { expect } from 'aegir/chai'
import { decodeNotice } from '../../../protocols/rotate-now/index.ts'
import { createTestCa, eventually } from '../../node/fixtures.ts'
import { createLifecycleMesh, startNoticeLine } from './harness.ts'
import type { LifecycleMesh } from './harness.ts'
import type { NoticeEvent, NoticeRefusedEvent, RotatedEvent } from '../../../src/daemon/lifecycle/index.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { TestCa } from '../../node/fixtures.ts'

/**
 * The operator's rotate-now: ten node runtimes in a line (QUIC on loopback, each node linked to the
 * next only, so a notice crosses nine hops of `/dadm-mesh/rotate/1.0.0` pushes, each node
 * forwarding it once). The operator's notice, signed by the issuing CA, is handed to one end;
 * every node verifies it and rotates within its spread (5 s here): all ten within 10 s. A notice
 * forged by another CA is refused at the first node it reaches, is not forwarded, and makes
 * nobody rotate; a targeted notice makes only its target rotate, though every node relays it.
 */
const N = 10
const SPREAD_MS = 5_000

describe('lifecycle: rotate-now across a 10-node line (QUIC)', function () {
  let mesh: LifecycleMesh
  let rogue: TestCa
  let rs: NodeRuntime[]
  let rotations: RotatedEvent[][]
  let notices: NoticeEvent[][]
  let refusals: NoticeRefusedEvent[][]

  before(async () => {
    rogue = await createTestCa('rogue')
    mesh = await createLifecycleMesh('rotate-now', { speed: 1, certSeconds: 3600, rotateNowSpreadMs: SPREAD_MS })
    ;({ rs, rotations, notices, refusals } = await startNoticeLine(mesh, 'rn', N, 80, { options: { gossip: { enabled: false } } }))
  })
  after(async () => {
    await mesh?.cleanup()
    await rogue?.close()
  })

  it('a notice forged by another CA is refused at the first node, not forwarded, and nobody rotates', async () => {
    const now = mesh.clock.ms()
    const forged = await (await import('../../../protocols/rotate-now/index.ts')).createNotice(
      { kind: 'rotate-now', seq: now, iat: now, exp: now + 3600_000 },
      async d => rogue.ca.signNotice(d, 'issuing')
    )
    // 1. The operator path at node 0 refuses it.
    expect(await rs[0].lifecycle.publish(forged)).to.deep.equal({ ok: false, code: 'UNTRUSTED_SIGNER' })
    // 2. A hostile node pushes it raw to its neighbour: refused there too, with the code.
    const outcomes = await rs[0].lifecycle.push.push(forged)
    expect(outcomes.map(o => ({ ok: o.ok, code: o.code }))).to.deep.equal([{ ok: false, code: 'UNTRUSTED_SIGNER' }])
    await new Promise(resolve => setTimeout(resolve, 1_500))
    // 3. Nothing changed anywhere: no rotation, no accepted notice, and no node past node 1 ever saw it.
    expect(rotations.map(r => r.length)).to.deep.equal(rs.map(() => 0))
    expect(notices.map(n => n.length)).to.deep.equal(rs.map(() => 0))
    expect(refusals.map(r => r.map(x => x.code))).to.deep.equal([['UNTRUSTED_SIGNER'], ['UNTRUSTED_SIGNER'], ...rs.slice(2).map(() => [])])
  })

  it('a notice targeting one node travels the whole line and only that node rotates', async () => {
    const bytes = await mesh.svc.service.rotateNow({ targets: ['rn-3'] }, mesh.clock.now())
    const digest = decodeNotice(bytes).digest
    expect(await rs[0].lifecycle.publish(bytes)).to.deep.equal({ ok: true })
    await eventually(() => notices.every(n => n.some(e => e.digest === digest)), 10_000)
    await eventually(() => rotations[3].length === 1, SPREAD_MS + 5_000)
    expect(rotations.map(r => r.length)).to.deep.equal(rs.map((_, i) => i === 3 ? 1 : 0))
    expect(rotations[3][0]).to.include({ reason: 'rotate-now', renewed: false })
    expect(notices.map(n => n.find(e => e.digest === digest)?.applied)).to.deep.equal(rs.map((_, i) => i === 3))
    // The same notice again changes nothing (seen; and the node's certificate postdates it anyway).
    expect(await rs[0].lifecycle.publish(bytes)).to.deep.equal({ ok: false, code: 'DUPLICATE' })
  })

  it('`rotate-now --all` from the far end makes every one of the ten rotate within 10 s', async () => {
    // A certificate issued in the notice's second counts as issued after it (X.509 has one-second
    // times): let the last test's rotation of rn-3 fall in an earlier second.
    await new Promise(resolve => setTimeout(resolve, 1_100))
    const before = rotations.map(r => r.length)
    const bytes = await mesh.svc.service.rotateNow({}, mesh.clock.now())
    const t0 = performance.now()
    expect(await rs[N - 1].lifecycle.publish(bytes)).to.deep.equal({ ok: true })
    const reached: number[] = rs.map(() => -1)
    const rotatedAt: number[] = rs.map(() => -1)
    await eventually(() => {
      rs.forEach((_, i) => {
        if (reached[i] < 0 && notices[i].some(e => e.kind === 'rotate-now' && e.applied && e.seq === decodeNotice(bytes).notice.seq)) { reached[i] = performance.now() - t0 }
        if (rotatedAt[i] < 0 && rotations[i].length > before[i]) { rotatedAt[i] = performance.now() - t0 }
      })
      return rotatedAt.every(t => t >= 0)
    }, 10_000)
    // eslint-disable-next-line no-console -- the figures of this test
    console.log(`      rotate-now over a ${N}-node line: notice at every node within ${Math.max(...reached).toFixed(0)} ms, every node rotated within ${Math.max(...rotatedAt).toFixed(0)} ms (spread ${SPREAD_MS} ms)`)
    expect(Math.max(...rotatedAt)).to.be.below(10_000)
    const iat = decodeNotice(bytes).notice.iat
    for (let i = 0; i < N; i++) {
      expect(rotations[i].at(-1)).to.include({ reason: 'rotate-now' })
      expect(rs[i].lifecycle.credentials.current().leaf.notBefore).to.be.at.least(Math.floor(iat / 1000) * 1000)
    }
    // Still one line of authenticated links: nothing dropped.
    for (let i = 0; i + 1 < N; i++) { expect(rs[i].node.isAuthenticated(rs[i + 1].node.peerId)).to.equal(true) }
  })
})
