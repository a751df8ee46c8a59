import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { relaySafeAddressManager } from '../../src/node/relay-addresses.ts'
import type { CircuitRelayTransportComponents } from '@libp2p/circuit-relay-v2'
import type { Multiaddr } from '@multiformats/multiaddr'

const PEER = '12D3KooWLsZg5JPWauskBRoUbwnig9zcL3f8eWan6w54D8ZxGrwC'

describe('node: relay addresses that reach the address manager', () => {
  it('a relay address that is not IP or DNS (/memory, /unix) never reaches confirmObservedAddr or removeObservedAddr', () => {
    const seen: string[] = []
    const am = {
      confirmObservedAddr: (ma: Multiaddr) => {
        // what libp2p's address manager does with such an address: it throws
        if (!['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr'].includes(ma.getComponents()[0].name)) { throw new Error('was not an IPv4, IPv6, DNS, DNS4, DNS6 or DNSADDR address') }
        seen.push(`confirm ${ma.toString()}`)
      },
      removeObservedAddr: (ma: Multiaddr) => { seen.push(`remove ${ma.toString()}`) },
      getAddresses: () => [multiaddr('/ip4/11.0.0.1/udp/1/quic-v1')]
    } as unknown as CircuitRelayTransportComponents['addressManager']
    const safe = relaySafeAddressManager(am)
    expect(() => { safe.confirmObservedAddr(multiaddr(`/memory/x/p2p/${PEER}/p2p-circuit`)) }).to.not.throw()
    safe.removeObservedAddr(multiaddr(`/unix/%2Ftmp%2Fs/p2p/${PEER}/p2p-circuit`))
    safe.confirmObservedAddr(multiaddr(`/ip4/11.0.0.1/udp/1/quic-v1/p2p/${PEER}/p2p-circuit`))
    safe.removeObservedAddr(multiaddr(`/dns4/relay.example/tcp/1/p2p/${PEER}/p2p-circuit`))
    expect(seen).to.deep.equal([
      `confirm /ip4/11.0.0.1/udp/1/quic-v1/p2p/${PEER}/p2p-circuit`,
      `remove /dns4/relay.example/tcp/1/p2p/${PEER}/p2p-circuit`
    ])
    // everything else passes through unchanged
    expect(safe.getAddresses().map(String)).to.deep.equal(['/ip4/11.0.0.1/udp/1/quic-v1'])
  })
})
