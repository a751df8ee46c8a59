import { expect } from 'aegir/chai'
import { PreauthLimiter } from '../../../protocols/auth/preauth-limits.ts'
import { sourceKey } from '../../../protocols/auth/source-address.ts'
import { MESH_NODE_DEFAULTS, resolveOptions } from '../../../src/node/config.ts'

/** The bookkeeping of connections waiting for auth, one class with a fake clock (the QUIC flood is preauth-caps.spec.ts). */
describe('auth: pre-auth limits (preauth-limits.ts, source-address.ts)', () => {
  it('a source is an IPv4 address or an IPv6 /64; an address without IP is no source', () => {
    expect(sourceKey('/ip4/10.1.2.3/udp/4001/quic-v1/p2p/12D3Koo')).to.equal('ip4/10.1.2.3')
    expect(sourceKey('/ip6/2001:db8:1:2:aaaa::1/udp/1/quic-v1')).to.equal('ip6/2001:db8:1:2::/64')
    expect(sourceKey('/ip6/2001:db8:1:2:ffff:ffff:ffff:ffff/tcp/1')).to.equal('ip6/2001:db8:1:2::/64')
    expect(sourceKey('/ip6/2001:db8:1:3::1/tcp/1')).to.equal('ip6/2001:db8:1:3::/64')
    expect(sourceKey('/ip6/::ffff:192.0.2.7/tcp/1')).to.equal('ip4/192.0.2.7')
    expect(sourceKey('/ip6/::1/tcp/1')).to.equal('ip6/0:0:0:0::/64')
    expect(sourceKey('/memory/abc')).to.equal(undefined)
  })

  it('refuses a source at its share (SOURCE_LIMIT), counts it, and admits it again once one of its connections is released', () => {
    const l = new PreauthLimiter({ maxPending: 10, maxPendingPerSource: 2 }, () => 0)
    expect(l.admit('a', '/ip4/10.0.0.2/udp/1', 1, 300)).to.deep.equal({ evict: [] })
    expect(l.admit('b', '/ip4/10.0.0.2/udp/2', 2, 300)).to.deep.equal({ evict: [] })
    expect(l.admit('c', '/ip4/10.0.0.2/udp/3', 3, 300)).to.deep.equal({ refused: 'SOURCE_LIMIT', evict: [] })
    expect(l.gate('/ip4/10.0.0.2/udp/4')).to.equal('SOURCE_LIMIT')
    expect(l.refused.SOURCE_LIMIT).to.equal(2)
    expect(l.gate('/ip4/10.0.0.3/udp/4')).to.equal(undefined)
    l.release('a')
    expect(l.pendingFrom('/ip4/10.0.0.2/udp/9')).to.equal(1)
    expect(l.admit('d', '/ip4/10.0.0.2/udp/5', 3, 300)).to.deep.equal({ evict: [] })
  })

  it('at the global cap, prunes the oldest connection of the source holding the most, not a lone newcomer (PREAUTH_PRUNED)', () => {
    const l = new PreauthLimiter({ maxPending: 4, maxPendingPerSource: 3 }, () => 0)
    l.admit('m', '/ip4/10.0.0.9/udp/1', 1, 300) // a member, one connection, oldest of all
    l.admit('f1', '/ip4/10.0.0.2/udp/1', 2, 300)
    l.admit('f2', '/ip4/10.0.0.2/udp/2', 3, 300)
    l.admit('g1', '/ip4/10.0.0.3/udp/1', 4, 300)
    expect(l.admit('f3', '/ip4/10.0.0.2/udp/3', 5, 300)).to.deep.equal({ evict: ['f1'] })
  })

  it('keeps one connection slot free for members: at maxConnections - 1 it prunes a waiting connection', () => {
    const l = new PreauthLimiter({ maxPending: 50, maxPendingPerSource: 10 }, () => 0)
    l.admit('old', '/ip4/10.0.0.2/udp/1', 10, 300)
    expect(l.admit('new', '/ip4/10.0.0.3/udp/1', 299, 300)).to.deep.equal({ evict: ['old'] })
  })

  it('backs a source off after its strikes, doubling, and forgets strikes outside the window (SOURCE_BACKED_OFF)', () => {
    let t = 0
    const l = new PreauthLimiter({ strikesToBackoff: 3, strikeWindowMs: 1_000, backoffInitialMs: 100, backoffMaxMs: 1_000 }, () => t)
    const a = '/ip4/10.0.0.4/udp/1'
    l.strike(a)
    l.strike(a)
    expect(l.isBackedOff(a)).to.equal(false)
    t = 2_000 // outside the window: the count starts again
    l.strike(a)
    l.strike(a)
    expect(l.isBackedOff(a)).to.equal(false)
    l.strike(a)
    expect(l.gate(a)).to.equal('SOURCE_BACKED_OFF')
    expect(l.isBackedOff('/ip4/10.0.0.5/udp/1')).to.equal(false)
    t += 100
    expect(l.isBackedOff(a)).to.equal(false)
    l.strike(a) // a further strike soon after: twice as long
    expect(l.isBackedOff(a)).to.equal(true)
    t += 150
    expect(l.isBackedOff(a)).to.equal(true)
    t += 60
    expect(l.isBackedOff(a)).to.equal(false)
  })

  it('remembers strikes of at most maxTrackedSources sources', () => {
    const l = new PreauthLimiter({ strikesToBackoff: 1, maxTrackedSources: 2 }, () => 0)
    l.strike('/ip4/10.0.0.1/udp/1')
    l.strike('/ip4/10.0.0.2/udp/1')
    l.strike('/ip4/10.0.0.3/udp/1')
    expect(l.isBackedOff('/ip4/10.0.0.1/udp/1')).to.equal(false)
    expect(l.isBackedOff('/ip4/10.0.0.3/udp/1')).to.equal(true)
  })

  it('is configured through the mesh node config: a partial preauth merges over the defaults; a cap that leaves members no slot is refused (CONFIG_INVALID)', () => {
    const o = resolveOptions({ auth: { preauth: { maxPendingPerSource: 4 } } })
    expect(o.auth.preauth).to.deep.equal({ ...MESH_NODE_DEFAULTS.auth.preauth, maxPendingPerSource: 4 })
    expect(o.auth.deadlineMs).to.equal(MESH_NODE_DEFAULTS.auth.deadlineMs)
    expect(() => resolveOptions({ auth: { preauth: { maxPending: 300 } } })).to.throw().with.property('code', 'CONFIG_INVALID')
    expect(() => resolveOptions({ auth: { preauth: { strikesToBackoff: 0 } } })).to.throw().with.property('code', 'CONFIG_INVALID')
    // the default cap leaves half of a small maxConnections to members
    expect(resolveOptions({ connectionManager: { maxConnections: 10 } }).auth.preauth.maxPending).to.equal(5)
  })
})
