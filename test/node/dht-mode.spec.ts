import { TypedEventEmitter } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { isGuarded } from '../../protocols/auth/index.ts'
import { DhtModeController, decideDhtMode } from '../../src/node/dht-mode.ts'
import { createTestCa, enroll, loopbackOptions, startNode, waitForEvent } from './fixtures.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { AuthenticatedPeer } from '../../protocols/auth/index.ts'
import type { ModeSwitch } from '../../src/node/dht-mode.ts'
import type { MeshNode } from '../../src/node/index.ts'
import type { Libp2pEvents, PeerId } from '@libp2p/interface'

const ma = (s: string): ReturnType<typeof multiaddr> => multiaddr(s)

/** A public name, never dialled by these tests (announcing is all they do with it). */
const ANNOUNCED = '/dns4/mesh-public.example.net/udp/4001/quic-v1'

describe('DHT mode by reachability', function () {
  this.timeout(60_000)

  describe('the rule (decideDhtMode)', () => {
    it('a verified public or announced address makes a server', () => {
      expect(decideDhtMode('auto', [ma('/ip4/10.0.0.2/udp/1/quic-v1'), ma(ANNOUNCED)], [ma('/ip4/8.8.8.8/udp/4001/quic-v1')])).to.deep.equal({ mode: 'server', reason: 'public-address' })
      expect(decideDhtMode('auto', [ma('/ip4/1.1.1.1/udp/4001/quic-v1')], [])).to.deep.equal({ mode: 'server', reason: 'public-address' })
    })

    it('private addresses only, with members across the WAN or through a relay: behind NAT, client', () => {
      expect(decideDhtMode('auto', [ma('/ip4/10.0.0.2/udp/1/quic-v1')], [ma('/ip4/8.8.8.8/udp/4001/quic-v1')])).to.deep.equal({ mode: 'client', reason: 'behind-nat' })
      expect(decideDhtMode('auto', [ma('/ip4/192.168.1.2/udp/1/quic-v1')], [ma('/ip4/8.8.8.8/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit')])).to.deep.equal({ mode: 'client', reason: 'behind-nat' })
      // A relayed address of our own is not a public one: still client.
      expect(decideDhtMode('auto', [ma('/ip4/8.8.8.8/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit')], [ma('/ip4/8.8.8.8/udp/4001/quic-v1')]).mode).to.equal('client')
    })

    it('a mesh on one private network or loopback keeps its servers', () => {
      expect(decideDhtMode('auto', [ma('/ip4/127.0.0.1/udp/1/quic-v1')], [ma('/ip4/127.0.0.1/udp/2/quic-v1')])).to.deep.equal({ mode: 'server', reason: 'private-network' })
      expect(decideDhtMode('auto', [ma('/ip4/10.1.0.2/tcp/1')], [ma('/ip4/10.1.0.3/tcp/2')])).to.deep.equal({ mode: 'server', reason: 'private-network' })
    })

    it('a configured mode is kept whatever the addresses say', () => {
      expect(decideDhtMode('server', [ma('/ip4/10.0.0.2/udp/1/quic-v1')], [ma('/ip4/8.8.8.8/udp/4001/quic-v1')])).to.deep.equal({ mode: 'server', reason: 'configured' })
      expect(decideDhtMode('client', [ma(ANNOUNCED)], [])).to.deep.equal({ mode: 'client', reason: 'configured' })
    })
  })

  describe('the controller', () => {
    it('follows the signals: client once a WAN member shows up, server once a public address is verified', async () => {
      let mode: 'client' | 'server' = 'server'
      const calls: string[] = []
      const dht: ModeSwitch = { getMode: () => mode, setMode: async (m) => { calls.push(m); mode = m } }
      const events = new TypedEventEmitter<Libp2pEvents>()
      let own = [ma('/ip4/10.0.0.2/udp/1/quic-v1')]
      let remotes: Array<ReturnType<typeof multiaddr>> = []
      const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false, newScope: () => log }) as any
      const c = new DhtModeController({ dht, mode: 'auto', own: () => own, remotes: () => remotes, events, log })
      c.start()
      expect(await c.settled()).to.deep.equal({ mode: 'server', reason: 'private-network' })
      remotes = [ma('/ip4/8.8.8.8/udp/4001/quic-v1')]
      c.reevaluate()
      expect(await c.settled()).to.deep.equal({ mode: 'client', reason: 'behind-nat' })
      own = [...own, ma('/ip4/8.8.4.4/udp/4001/quic-v1')]
      events.safeDispatchEvent('self:peer:update', { detail: {} as any })
      expect(await c.settled()).to.deep.equal({ mode: 'server', reason: 'public-address' })
      c.stop()
      own = [ma('/ip4/10.0.0.2/udp/1/quic-v1')]
      events.safeDispatchEvent('self:peer:update', { detail: {} as any })
      await c.settled()
      expect(calls).to.deep.equal(['client', 'server'])
    })
  })

  describe('on real nodes (QUIC on loopback)', () => {
    let tca: TestCa
    let a: Enrolled
    let b: Enrolled
    const nodes: MeshNode[] = []

    before(async () => {
      tca = await createTestCa('dhtmode')
      a = await enroll(tca, 'dht-a')
      b = await enroll(tca, 'dht-b')
    })

    after(async () => { await tca.close() })

    afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => n.stop())) })

    it('an announced address is advertised as verified, reaches peers through identify, and makes the node a DHT server', async () => {
      const na = await startNode('announcer', a, tca, loopbackOptions('quic', { announce: [ANNOUNCED], dht: { mode: 'auto' } }))
      nodes.push(na)
      const own = na.getMultiaddrs().map(String)
      // getMultiaddrs() returns verified addresses only: the announced one is there without AutoNAT.
      expect(own).to.include(`${ANNOUNCED}/p2p/${a.peerId.toString()}`)
      // Appended, not replacing: the loopback listen address is still advertised.
      expect(own.some(s => s.startsWith('/ip4/127.0.0.1/udp/'))).to.equal(true)
      expect(await na.dhtMode?.settled()).to.deep.equal({ mode: 'server', reason: 'public-address' })
      expect(na.libp2p.services.dht?.getMode()).to.equal('server')

      const nb = await startNode('listener', b, tca, loopbackOptions('quic'))
      nodes.push(nb)
      const identified = waitForEvent(nb.libp2p, 'peer:identify', (r: { peerId: PeerId }) => r.peerId.equals(a.peerId))
      const authed = waitForEvent<AuthenticatedPeer>(nb, 'peer:authenticated')
      await nb.dial(na.getMultiaddrs().find(m => m.toString().startsWith('/ip4/127.0.0.1')) as any)
      await authed
      await identified
      const learnt = (await nb.libp2p.peerStore.get(a.peerId)).addresses.map(x => x.multiaddr.toString())
      expect(learnt).to.include(ANNOUNCED)
    })

    it('a node whose peers all share its private network stays a DHT server', async () => {
      const na = await startNode('lan-a', a, tca, loopbackOptions('quic'))
      const nb = await startNode('lan-b', b, tca, loopbackOptions('quic'))
      nodes.push(na, nb)
      await nb.dial(na.getMultiaddrs()[0])
      na.dhtMode?.reevaluate()
      expect(await na.dhtMode?.settled()).to.deep.equal({ mode: 'server', reason: 'private-network' })
    })

    it('a DHT that re-enters server mode answers only authenticated peers: its handler is wrapped at registration', async () => {
      const na = await startNode('flip', a, tca, loopbackOptions('quic', { dht: { mode: 'client' } }))
      nodes.push(na)
      const dht = na.libp2p.services.dht
      if (dht == null) { throw new Error('no DHT') }
      const registrar = (na.libp2p as any).components.registrar
      const protocol = na.options.dht.protocol
      expect(na.libp2p.getProtocols()).to.not.include(protocol)
      // What the controller does when a node becomes reachable, done by hand (the controller,
      // told 'client', would switch it back).
      na.dhtMode?.stop()
      await dht.setMode('server')
      expect(na.libp2p.getProtocols()).to.include(protocol)
      expect(isGuarded(registrar.getHandler(protocol).handler)).to.equal(true)
    })
  })
})
