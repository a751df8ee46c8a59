import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { withoutExpandedLoopback } from '../../src/node/nat-addresses.ts'

describe('advertised addresses: loopback of a wildcard listener', () => {
  it('drops a loopback address that shares its transport and port with a routable one', () => {
    const addrs = [
      '/ip4/127.0.0.1/udp/43105/quic-v1',
      '/ip4/10.77.2.10/udp/43105/quic-v1',
      '/ip6/::1/tcp/4002',
      '/ip6/fd00::5/tcp/4002',
      '/ip4/11.77.0.101/udp/4001/quic-v1/p2p/12D3KooWGMYMmN1RGUYjWaSV6P3XtnBjwnosnJGNMnttfVCRnd6g/p2p-circuit'
    ].map(a => multiaddr(a))
    expect(withoutExpandedLoopback(addrs).map(String)).to.deep.equal([addrs[1], addrs[3], addrs[4]].map(String))
  })

  it('keeps loopback addresses of their own: a loopback-only mesh, or a port no other address shares', () => {
    const loopbackOnly = ['/ip4/127.0.0.1/udp/40000/quic-v1', '/ip4/127.0.0.1/tcp/40001'].map(a => multiaddr(a))
    expect(withoutExpandedLoopback(loopbackOnly).map(String)).to.deep.equal(loopbackOnly.map(String))
    // An announced address on another port does not hide the loopback listener.
    const announced = ['/ip4/127.0.0.1/udp/40000/quic-v1', '/ip4/198.51.100.20/udp/4001/quic-v1'].map(a => multiaddr(a))
    expect(withoutExpandedLoopback(announced).map(String)).to.deep.equal(announced.map(String))
  })
})
