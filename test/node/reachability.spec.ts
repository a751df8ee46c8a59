import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { classifyReachability, isPublicAddress, resolveOptions } from '../../src/node/index.ts'
import { natServices } from '../../src/node/nat-services.ts'
import { socketKey } from '../../src/node/reachability.ts'
import { createTestCa, enroll, loopbackOptions, startNode, waitForEvent } from './fixtures.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { MeshNode, ReachabilityReport } from '../../src/node/index.ts'

const addr = (s: string, verified: boolean, type = 'transport'): { multiaddr: ReturnType<typeof multiaddr>, verified: boolean, type: string } => ({ multiaddr: multiaddr(s), verified, type })

describe('reachability: classification of the address manager\'s list', () => {
  it('private: loopback, RFC 1918, 100.64/10 and TEST-NET addresses only (a LAN or loopback mesh)', () => {
    const r = classifyReachability([
      addr('/ip4/127.0.0.1/udp/4001/quic-v1', true),
      addr('/ip4/10.1.2.3/udp/4001/quic-v1', true),
      addr('/ip4/100.64.0.9/udp/4001/quic-v1', true),
      addr('/ip4/198.51.100.7/udp/4001/quic-v1', true)
    ])
    expect(r).to.deep.equal({ status: 'private', verified: [], unconfirmed: [], mapped: [] })
  })

  it('unconfirmed: a public candidate no member dialled back yet (observed behind NAT, or a fresh public listener)', () => {
    const r = classifyReachability([
      addr('/ip4/10.1.2.3/udp/4001/quic-v1', true),
      addr('/ip4/11.77.0.5/udp/31337/quic-v1', false, 'observed')
    ])
    expect(r.status).to.equal('unconfirmed')
    expect(r.unconfirmed).to.deep.equal(['/ip4/11.77.0.5/udp/31337/quic-v1'])
  })

  it('public: a verified public address (announced, or confirmed by AutoNAT); a UPnP mapping is listed as mapped, verified or not', () => {
    const upnp = new Set([socketKey('11.77.3.1', 4001, 'udp')])
    const r = classifyReachability([
      addr('/ip4/10.1.2.3/udp/4001/quic-v1', true),
      addr('/ip4/11.77.3.1/udp/4001/quic-v1', true, 'ip-mapping'),
      addr('/ip4/11.77.3.1/udp/4001/quic-v1', true, 'ip-mapping'),
      addr('/ip4/11.77.3.9/udp/5000/quic-v1', true, 'ip-mapping')
    ], upnp)
    expect(r).to.deep.equal({ status: 'public', verified: ['/ip4/11.77.3.1/udp/4001/quic-v1', '/ip4/11.77.3.9/udp/5000/quic-v1'], unconfirmed: [], mapped: ['/ip4/11.77.3.1/udp/4001/quic-v1'] })
    expect(classifyReachability([addr('/ip4/11.77.3.1/udp/4001/quic-v1', false, 'ip-mapping')], upnp)).to.deep.include({ status: 'unconfirmed', mapped: ['/ip4/11.77.3.1/udp/4001/quic-v1'] })
  })

  it('a relayed address never counts, even through a public relay', () => {
    const relayed = '/ip4/11.77.0.101/udp/4001/quic-v1/p2p/12D3KooWGzh8WyZ3rK9Zb6o1zGxgY4sGqGk8hW3n7Y5vT9cXq1Ab/p2p-circuit'
    expect(isPublicAddress(multiaddr(relayed))).to.equal(false)
    expect(classifyReachability([addr(relayed, true)]).status).to.equal('private')
  })

  it('lists at most 32 addresses of each kind', () => {
    const many = Array.from({ length: 40 }, (_, i) => addr(`/ip4/11.77.1.${i + 1}/udp/4001/quic-v1`, false, 'observed'))
    expect(classifyReachability(many).unconfirmed).to.have.lengthOf(32)
  })
})

describe('reachability: NAT service wiring', () => {
  it('UPnP is not started on a loopback-only node (nothing to map, no SSDP off the host), and DCUtR only with the relay transport', () => {
    const loop = natServices(resolveOptions({ listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], upnp: { enabled: true } }))
    expect(Object.keys(loop)).to.have.members(['reachability', 'autonat', 'dcutr'])
    const wild = natServices(resolveOptions({ upnp: { enabled: true } }))
    expect(Object.keys(wild)).to.have.members(['reachability', 'autonat', 'dcutr', 'upnp'])
    const noRelay = natServices(resolveOptions({ relay: { enabled: false } }))
    expect(Object.keys(noRelay)).to.have.members(['reachability', 'autonat'])
    const off = natServices(resolveOptions({ autonat: { enabled: false }, dcutr: { enabled: false } }))
    expect(Object.keys(off)).to.deep.equal(['reachability'])
  })

  it('refuses contradictions (CONFIG_INVALID): UPnP without AutoNAT nor autoConfirm, a non-http gateway, a lease too short, bad AutoNAT/DCUtR numbers', () => {
    const codeOf = (config: Parameters<typeof resolveOptions>[0]): string | undefined => {
      try { resolveOptions(config) } catch (err: any) { return err.code }
      return undefined
    }
    expect(codeOf({ upnp: { enabled: true }, autonat: { enabled: false } })).to.equal('CONFIG_INVALID')
    expect(codeOf({ upnp: { enabled: true, autoConfirm: true }, autonat: { enabled: false } })).to.equal(undefined)
    expect(codeOf({ upnp: { gateways: ['https://192.168.1.1/rootDesc.xml'] } })).to.equal('CONFIG_INVALID')
    expect(codeOf({ upnp: { gateways: ['not a url'] } })).to.equal('CONFIG_INVALID')
    expect(codeOf({ upnp: { mappingTtlMs: 60_000 } })).to.equal('CONFIG_INVALID')
    expect(codeOf({ autonat: { timeoutMs: 0 } })).to.equal('CONFIG_INVALID')
    expect(codeOf({ autonat: { maxInboundStreams: 100 } })).to.equal('CONFIG_INVALID')
    expect(codeOf({ dcutr: { retries: 0 } })).to.equal('CONFIG_INVALID')
  })
})

describe('reachability of a running node (loopback, QUIC)', function () {
  let tca: TestCa
  let who: Enrolled
  const nodes: MeshNode[] = []

  before(async () => {
    tca = await createTestCa('reach')
    who = await enroll(tca, 'reach-a')
  })
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => { await n.stop() })) })
  after(async () => { await tca.close() })

  it('a loopback node is private; an announced public address makes it public at once (announced counts as verified)', async () => {
    const plain = await startNode('reach-a', who, tca, loopbackOptions('quic', { dht: { enabled: false } }))
    nodes.push(plain)
    expect(plain.reachability.report()).to.deep.include({ status: 'private', verified: [], unconfirmed: [] })
    await plain.stop()
    nodes.splice(0)
    const announced = await startNode('reach-a', who, tca, loopbackOptions('quic', { dht: { enabled: false }, announce: ['/ip4/11.77.0.9/udp/4001/quic-v1'] }))
    nodes.push(announced)
    const report = announced.reachability.report()
    expect(report.status).to.equal('public')
    expect(report.verified).to.deep.equal(['/ip4/11.77.0.9/udp/4001/quic-v1'])
    expect(report.autonat.enabled).to.equal(true)
    expect(report.upnp.enabled).to.equal(false)
  })

  it('fires `change` when the status moves: an observed public address makes it unconfirmed, and it is not advertised before a member dials it back', async () => {
    // On loopback every peer observes 127.0.0.1 (private): the public observation is handed to
    // the address manager as identify does, then identify's event is raised.
    const node = await startNode('reach-a', who, tca, loopbackOptions('quic', { dht: { enabled: false } }))
    nodes.push(node)
    const changed = waitForEvent<ReachabilityReport>(node.reachability, 'change', r => r.status === 'unconfirmed', 5_000)
    const am = (node.libp2p as any).components.addressManager
    am.addObservedAddr(multiaddr('/ip4/11.77.0.10/udp/40000/quic-v1'))
    // identify is what brings observed addresses; its event is what the service listens to
    node.libp2p.safeDispatchEvent('peer:identify', { detail: { peerId: node.peerId, protocols: [], listenAddrs: [], connection: undefined as any } as any })
    const report = await changed
    expect(report.unconfirmed).to.deep.equal(['/ip4/11.77.0.10/udp/40000/quic-v1'])
    expect(node.getMultiaddrs().map(String).some(a => a.includes('11.77.0.10')), 'not advertised before confirmation').to.equal(false)
  })
})
