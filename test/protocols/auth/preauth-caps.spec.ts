import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { sourceKey } from '../../../protocols/auth/source-address.ts'
import { createTestCa, enroll, loopbackOptions, startNode, waitForEvent } from '../../node/fixtures.ts'
import { rawHostile } from './hostile.ts'
import { udpRelay } from './udp-relay.ts'
import type { HostileNode } from './hostile.ts'
import type { UdpRelay } from './udp-relay.ts'
import type { PreauthRefused } from '../../../protocols/auth/index.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

/**
 * Connections waiting for auth are a bounded resource of their own. Certless strangers flood a
 * mesh node N over real QUIC from four loopback source addresses (127.0.0.2..5, through UDP
 * relays bound to those addresses: the QUIC client cannot bind one itself), each stranger
 * holding its connections silent until N's auth deadline. N's connection counts are sampled
 * throughout; an enrolled member dials in from 127.0.0.1 in the middle of it.
 */
const DEADLINE_MS = 2_000
const MAX_PENDING = 12
const PER_SOURCE = 3
const MAX_CONNECTIONS = 40
const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']

describe('auth: caps on connections waiting for auth, under a certless flood (QUIC)', function () {
  this.timeout(30_000)
  let tca: TestCa
  let nodeCred: Enrolled
  let memberCred: Enrolled
  let n: MeshNode
  let member: MeshNode | undefined
  const hostiles: HostileNode[] = []
  const relays: UdpRelay[] = []

  before(async () => {
    tca = await createTestCa('preauth-caps')
    nodeCred = await enroll(tca, 'caps-node')
    memberCred = await enroll(tca, 'caps-member')
  })

  afterEach(async () => {
    await Promise.all(hostiles.splice(0).map(async h => { await h.stop() }))
    await Promise.all(relays.splice(0).map(async r => { await r.close() }))
    await member?.stop()
    member = undefined
    await n.stop()
  })

  after(async () => { await tca.close() })

  async function startTarget (strikesToBackoff: number): Promise<void> {
    n = await startNode('n', nodeCred, tca, loopbackOptions('quic', {
      auth: { deadlineMs: DEADLINE_MS, preauth: { maxPending: MAX_PENDING, maxPendingPerSource: PER_SOURCE, strikesToBackoff } },
      connectionManager: { maxConnections: MAX_CONNECTIONS, inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 100 }
    }))
  }

  /** N's address as reached through a relay bound to `source`. */
  async function via (source: string): Promise<string> {
    const port = Number(/\/udp\/(\d+)\//.exec(n.getMultiaddrs()[0].toString())?.[1])
    const relay = await udpRelay(source, port)
    relays.push(relay)
    return `/ip4/127.0.0.1/udp/${relay.port}/quic-v1/p2p/${n.peerId.toString()}`
  }

  /** N's open connections: all, not yet authenticated, and the largest unauthenticated count of one source. */
  function census (): { total: number, pending: number, perSource: number } {
    const open = n.libp2p.getConnections().filter(c => c.status === 'open')
    const pending = open.filter(c => n.libp2p.services.auth.getAuthenticated(c) == null)
    const bySource = new Map<string, number>()
    for (const c of pending) {
      const key = sourceKey(c.remoteAddr.toString()) ?? '?'
      bySource.set(key, (bySource.get(key) ?? 0) + 1)
    }
    return { total: open.length, pending: pending.length, perSource: Math.max(0, ...bySource.values()) }
  }

  it('a flood from four sources never holds more than its caps, and a member still authenticates within the deadline (SOURCE_LIMIT, PREAUTH_PRUNED)', async () => {
    await startTarget(1_000)
    const refused: PreauthRefused[] = []
    n.libp2p.services.auth.addEventListener('preauth:refused', (evt) => { refused.push(evt.detail) })
    const peak = { total: 0, pending: 0, perSource: 0, samples: 0 }
    const sampler = setInterval(() => {
      const c = census()
      peak.total = Math.max(peak.total, c.total)
      peak.pending = Math.max(peak.pending, c.pending)
      peak.perSource = Math.max(peak.perSource, c.perSource)
      peak.samples++
    }, 5)
    try {
      // Two strangers per source, six silent connections each: 48 attempts, bounded in time too.
      const floodUntil = Date.now() + 3_000
      const flood: Array<Promise<void>> = []
      for (const source of SOURCES) {
        const target = multiaddr(await via(source))
        for (let k = 0; k < 2; k++) {
          const h = await rawHostile(`flood-${source}-${k}`)
          hostiles.push(h)
          flood.push((async () => {
            for (let i = 0; i < 6 && Date.now() < floodUntil; i++) {
              await h.dial(target, { force: true, signal: AbortSignal.timeout(1_000) }).catch(() => {})
            }
          })())
        }
      }
      // The member dials while the flood holds the caps.
      const full = Date.now() + 2_000
      while (census().pending < MAX_PENDING - 1 && Date.now() < full) { await new Promise(resolve => setTimeout(resolve, 5)) }
      expect(census().pending).to.be.at.least(MAX_PENDING - 1)
      member = await startNode('member', memberCred, tca, loopbackOptions('quic'))
      // Both sides: the member's dial, and N's own verdict on the member (it checks the proof last).
      const onN = waitForEvent(n, 'peer:authenticated', (p: { peerId: string }) => p.peerId === member?.peerId.toString(), DEADLINE_MS)
      const started = performance.now()
      await member.dial(n.getMultiaddrs()[0])
      await onN
      const elapsed = performance.now() - started
      expect(elapsed).to.be.below(DEADLINE_MS)
      expect(n.isAuthenticated(member.peerId)).to.equal(true)
      await Promise.all(flood)
    } finally {
      clearInterval(sampler)
    }
    expect(peak.samples).to.be.above(20)
    expect(peak.pending).to.be.at.most(MAX_PENDING)
    expect(peak.perSource).to.be.at.most(PER_SOURCE)
    expect(peak.total).to.be.at.most(MAX_CONNECTIONS)
    // The caps acted, with their own codes: per-source refusals, and pruning when all were full.
    const counts = n.libp2p.services.auth.pendingAuth().refused
    expect(counts.SOURCE_LIMIT + refused.filter(r => r.code === 'SOURCE_LIMIT').length).to.be.above(0)
    expect(refused.map(r => r.code)).to.include('PREAUTH_PRUNED')
    expect(refused.filter(r => !['SOURCE_LIMIT', 'PREAUTH_PRUNED'].includes(r.code)).map(r => r.code)).to.deep.equal([])
    // Every refusal named one of the four flood sources, never the member's 127.0.0.1.
    expect([...new Set(refused.map(r => sourceKey(r.remoteAddr)))].every(k => SOURCES.some(a => k === `ip4/${a}`))).to.equal(true)
    // Only flood connections were pruned, never the member's; no stranger authenticated.
    expect(refused.map(r => r.peerId)).to.not.include(member.peerId.toString())
    for (const h of hostiles) { expect(n.isAuthenticated(h.peerId)).to.equal(false) }
  })

  it('repeated auth timeouts back a source off, whatever PeerId it uses next; other sources are unaffected (SOURCE_BACKED_OFF)', async () => {
    await startTarget(2)
    const target = multiaddr(await via('127.0.0.3'))
    const first = await rawHostile('timeouts')
    hostiles.push(first)
    const timeouts = [
      waitForEvent(n, 'peer:auth-failed', (f: { peerId: string, code: string }) => f.peerId === first.peerId.toString() && f.code === 'TIMEOUT', DEADLINE_MS * 3)
    ]
    await first.dial(target, { force: true })
    await first.dial(target, { force: true })
    await Promise.all(timeouts)
    // Wait for the second timeout as well (two connections, two strikes).
    const deadline = Date.now() + DEADLINE_MS * 2
    while (n.libp2p.getConnections(first.peerId).length > 0 && Date.now() < deadline) { await new Promise(resolve => setTimeout(resolve, 10)) }
    expect(n.libp2p.getConnections(first.peerId)).to.have.lengthOf(0)
    // A new PeerId from the same source: refused before its upgrade.
    const fresh = await rawHostile('new-peer-id')
    hostiles.push(fresh)
    const before = n.libp2p.services.auth.pendingAuth().refused.SOURCE_BACKED_OFF
    const err = await fresh.dial(target, { signal: AbortSignal.timeout(DEADLINE_MS) }).then(async c => {
      // QUIC may finish its handshake before libp2p's upgrader refuses: then N closes it at once.
      await new Promise(resolve => setTimeout(resolve, 100))
      return c.status === 'open' ? undefined : new Error('closed')
    }, (e: Error) => e)
    expect(err).to.be.instanceOf(Error)
    expect(n.libp2p.services.auth.pendingAuth().refused.SOURCE_BACKED_OFF).to.be.above(before)
    expect(n.libp2p.getConnections(fresh.peerId).filter(c => c.status === 'open')).to.have.lengthOf(0)
    // The member, from another source, is not affected.
    member = await startNode('member', memberCred, tca, loopbackOptions('quic'))
    const onN = waitForEvent(n, 'peer:authenticated', (p: { peerId: string }) => p.peerId === member?.peerId.toString(), DEADLINE_MS)
    await member.dial(n.getMultiaddrs()[0])
    await onN
    expect(n.isAuthenticated(member.peerId)).to.equal(true)
  })
})
