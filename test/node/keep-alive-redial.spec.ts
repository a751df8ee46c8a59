import { expect } from 'aegir/chai'
import { KEEP_ALIVE_TAGS } from '../../src/node/keeper-host.ts'
import { createTestCa, enroll, eventually, loopbackOptions, startNode, waitForEvent } from './fixtures.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { AuthenticatedPeer } from '../../protocols/auth/index.ts'
import type { MeshNode, MeshNodeConfig } from '../../src/node/index.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * Keep-alive and redial over real QUIC on loopback: a peer that goes away and comes back on the
 * same address is dialled again and re-authenticated by the node itself. The harness dials
 * nothing after the setup; the node's MemberKeeper does (src/node/member-keeper.ts).
 */

/** Redials at 200 ms, capped at 1 s: the behaviour of the defaults, five times faster. */
const FAST: MeshNodeConfig['keepAlive'] = { redial: { initialMs: 200, factor: 2, maxMs: 1_000 }, attemptTimeoutMs: 3_000 }

/** Polls an async check every 20 ms until it holds or `ms` pass (peer store state has no event). */
async function eventuallyAsync (check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) { throw new Error('condition not met in time') }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function quicPort (node: MeshNode): number {
  const port = node.getMultiaddrs().map(a => a.toString()).map(s => /\/udp\/(\d+)\/quic-v1/.exec(s)?.[1]).find(p => p != null)
  if (port == null) { throw new Error('no QUIC address') }
  return Number(port)
}

function isPeer (id: PeerId): (p: AuthenticatedPeer) => boolean {
  return (p) => p.peerId === id.toString()
}

describe('keep-alive and redial (real QUIC on loopback)', function () {
  this.timeout(60_000)
  let tca: TestCa
  let a: Enrolled
  let b: Enrolled
  const nodes: MeshNode[] = []

  before(async () => {
    tca = await createTestCa('keepalive')
    a = await enroll(tca, 'keep-a')
    b = await enroll(tca, 'keep-b')
  })

  after(async () => {
    await tca.close()
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => n.stop()))
  })

  async function node (name: string, who: Enrolled, options: MeshNodeConfig): Promise<MeshNode> {
    const n = await startNode(name, who, tca, options)
    nodes.push(n)
    return n
  }

  it('a bootstrap peer that restarts on its address is redialled and re-authenticated, with no harness dial', async () => {
    const b1 = await node('boot-1', b, loopbackOptions('quic', { keepAlive: { enabled: false } }))
    const port = quicPort(b1)
    const bootAddr = `/ip4/127.0.0.1/udp/${port}/quic-v1/p2p/${b.peerId.toString()}`
    const first = waitForEvent<AuthenticatedPeer>(b1, 'peer:authenticated')
    const na = await node('member-a', a, loopbackOptions('quic', { bootstrap: [bootAddr], keepAlive: FAST }))
    await first
    const tags = (await na.libp2p.peerStore.get(b.peerId)).tags
    expect(tags.has(KEEP_ALIVE_TAGS.bootstrap), 'bootstrap tag').to.equal(true)

    // The bootstrap server goes away ...
    const dropped = waitForEvent(na.libp2p, 'peer:disconnect', (id: PeerId) => id.equals(b.peerId))
    await b1.stop()
    nodes.splice(nodes.indexOf(b1), 1)
    await dropped
    expect(na.isAuthenticated(b.peerId)).to.equal(false)

    // ... and comes back on the same address, knowing nothing of A: only A can bring the link back.
    const back = waitForEvent<AuthenticatedPeer>(na, 'peer:authenticated', isPeer(b.peerId), 15_000)
    const b2 = await node('boot-2', b, loopbackOptions('quic', { listen: [`/ip4/127.0.0.1/udp/${port}/quic-v1`], keepAlive: { enabled: false } }))
    await back
    expect(na.isAuthenticated(b.peerId), 'A holds B').to.equal(true)
    // B's side of the exchange ends a moment after A's.
    await eventually(() => b2.isAuthenticated(a.peerId))
    // A dialled it (outbound on A's side), and the redial counted.
    expect(na.libp2p.getConnections(b.peerId).some(c => c.direction === 'outbound'), 'A dialled').to.equal(true)
    expect(na.keeper?.stats().redials).to.be.greaterThan(0)
    // Tagged again (libp2p's own reconnect attempt strips keep-alive tags when it fails).
    await eventuallyAsync(async () => (await na.libp2p.peerStore.get(b.peerId)).tags.has(KEEP_ALIVE_TAGS.bootstrap))
  })

  it('a recently authenticated member that restarts is redialled by the node that knew it', async () => {
    const na = await node('keeper-a', a, loopbackOptions('quic', { keepAlive: FAST }))
    const b1 = await node('member-b-1', b, loopbackOptions('quic', { keepAlive: { enabled: false } }))
    const port = quicPort(b1)
    // The one harness dial: B meets A (inbound on A's side). A learns where B listens from
    // identify, which runs after auth.
    const met = waitForEvent<AuthenticatedPeer>(na, 'peer:authenticated', isPeer(b.peerId))
    const identified = waitForEvent(na.libp2p, 'peer:identify', (r: { peerId: PeerId }) => r.peerId.equals(b.peerId))
    await b1.dial(na.getMultiaddrs()[0])
    await met
    await identified
    expect((await na.libp2p.peerStore.get(b.peerId)).tags.has(KEEP_ALIVE_TAGS.member)).to.equal(true)

    const dropped = waitForEvent(na.libp2p, 'peer:disconnect', (id: PeerId) => id.equals(b.peerId))
    await b1.stop()
    nodes.splice(nodes.indexOf(b1), 1)
    await dropped

    const back = waitForEvent<AuthenticatedPeer>(na, 'peer:authenticated', isPeer(b.peerId), 15_000)
    await node('member-b-2', b, loopbackOptions('quic', { listen: [`/ip4/127.0.0.1/udp/${port}/quic-v1`], keepAlive: { enabled: false } }))
    const peer = await back
    const conn = na.libp2p.getConnections(b.peerId).find(c => c.id === peer.connectionId)
    expect(conn?.direction).to.equal('outbound')
    expect(na.peers.get(b.peerId.toString())?.status).to.equal('authenticated')
    await eventuallyAsync(async () => (await na.libp2p.peerStore.get(b.peerId)).tags.has(KEEP_ALIVE_TAGS.member))
  })

  it('a revoked member is not redialled: its keep-alive entry goes with the revocation', async () => {
    const na = await node('keeper-r', a, loopbackOptions('quic', { keepAlive: FAST }))
    const b1 = await node('member-r', b, loopbackOptions('quic', { keepAlive: { enabled: false } }))
    const met = waitForEvent<AuthenticatedPeer>(na, 'peer:authenticated', isPeer(b.peerId))
    await b1.dial(na.getMultiaddrs()[0])
    await met
    expect(na.keeper?.stats().members).to.equal(1)
    const revoked = waitForEvent(na, 'peer:revoked')
    await na.applyRevocation((id) => id.peerId === b.peerId.toString(), { source: 'test' })
    await revoked
    expect(na.keeper?.pending()).to.not.include(b.peerId.toString())
    expect(na.keeper?.stats().members).to.equal(0)
    expect(na.blockList.isBlocked(b.peerId.toString())).to.equal(true)
  })
})
