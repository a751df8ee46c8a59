import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { checkRelayOptions, RELAY_DEFAULTS, resolveOptions } from '../../src/node/index.ts'
import { directMembership, isRelayedConnection, RelayAdmission } from '../../src/node/relay-gate.ts'
import { hasPublicAddress, relayedAddrFilter, relayListenAddrs } from '../../src/node/relay-services.ts'
import type { MembershipSources } from '../../src/node/relay-gate.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * The member-only relay gate on its own (one class, in-memory sessions), the relay options'
 * checks, and the rule that decides when `relay.server: auto` serves. The gate between real
 * nodes is in relay.spec.ts.
 */
async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

const DIRECT = '/ip4/127.0.0.1/udp/4001/quic-v1'
const RELAYED = '/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWGMYMmN1RGUYjWaSV6P3XtnBjwnosnJGNMnttfVCRnd6g/p2p-circuit'

describe('relay gate: reservations and circuits for directly authenticated members only', function () {
  let member: PeerId
  let viaRelayOnly: PeerId
  let stranger: PeerId
  let blocked: PeerId
  let demoted: PeerId
  let sources: MembershipSources

  before(async () => {
    [member, viaRelayOnly, stranger, blocked, demoted] = await Promise.all([peer(), peer(), peer(), peer(), peer()])
    const conn = (p: PeerId, addr: string, limited = false): { connection: any } => ({ connection: { remotePeer: p, remoteAddr: multiaddr(addr), limits: limited ? { bytes: 1n } : undefined, status: 'open' } })
    sources = {
      authenticatedConnections: () => [conn(member, DIRECT), conn(viaRelayOnly, RELAYED, true), conn(blocked, DIRECT), conn(demoted, DIRECT)],
      isBlocked: (p) => p === blocked.toString(),
      isDemoted: (p) => p === demoted.toString()
    }
  })

  it('an unbound gate refuses everything (no relaying before the node tells members apart)', () => {
    const gate = new RelayAdmission()
    const hooks = gate.hooks()
    expect(hooks.denyInboundRelayReservation(member)).to.equal(true)
    expect(hooks.denyOutboundRelayedConnection(member, member)).to.equal(true)
    expect(hooks.denyInboundRelayedConnection(member, member)).to.equal(true)
    expect(gate.refused).to.deep.equal({ reservation: 1, connect: 1, inbound: 1 })
  })

  it('a directly authenticated member may reserve, relay to another member, and bring relayed connections', () => {
    const gate = new RelayAdmission()
    gate.bind(directMembership(sources))
    const hooks = gate.hooks()
    expect(hooks.denyInboundRelayReservation(member)).to.equal(false)
    expect(hooks.denyInboundRelayedConnection(member, stranger)).to.equal(false)
    expect(gate.refused).to.deep.equal({ reservation: 0, connect: 0, inbound: 0 })
  })

  it('a stranger, a member known only over a relayed connection, a blocked and a demoted member are refused at every hook', () => {
    const gate = new RelayAdmission()
    gate.bind(directMembership(sources))
    const hooks = gate.hooks()
    for (const p of [stranger, viaRelayOnly, blocked, demoted]) {
      expect(hooks.denyInboundRelayReservation(p), `reserve ${p.toString()}`).to.equal(true)
      expect(hooks.denyOutboundRelayedConnection(p, member), `connect from ${p.toString()}`).to.equal(true)
      expect(hooks.denyOutboundRelayedConnection(member, p), `connect to ${p.toString()}`).to.equal(true)
      expect(hooks.denyInboundRelayedConnection(p, member), `relay ${p.toString()}`).to.equal(true)
    }
    expect(gate.refused).to.deep.equal({ reservation: 4, connect: 8, inbound: 4 })
  })

  it('a relayed connection is told apart by its limits or by its address', () => {
    expect(isRelayedConnection({ remoteAddr: multiaddr(DIRECT), limits: undefined })).to.equal(false)
    expect(isRelayedConnection({ remoteAddr: multiaddr(RELAYED), limits: undefined })).to.equal(true)
    expect(isRelayedConnection({ remoteAddr: multiaddr(DIRECT), limits: { bytes: 10n } })).to.equal(true)
  })
})

describe('relay options', function () {
  it('defaults: relay on, server auto, two slots, limits of an hour and 64 MiB', () => {
    expect(resolveOptions().relay).to.deep.equal(RELAY_DEFAULTS)
    expect(RELAY_DEFAULTS).to.include({ enabled: true, server: 'auto', reservations: 2, durationLimitMs: 3_600_000, dataLimitBytes: 64 * 1024 * 1024 })
  })

  it('out-of-range values are CONFIG_INVALID naming the key', () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ server: 'sometimes' }, 'relay.server'],
      [{ reservations: -1 }, 'relay.reservations'],
      [{ reservations: 1.5 }, 'relay.reservations'],
      [{ maxReservations: 0 }, 'relay.maxReservations'],
      [{ reservationTtlMs: 1000 }, 'relay.reservationTtlMs'],
      [{ durationLimitMs: 500 }, 'relay.durationLimitMs'],
      [{ dataLimitBytes: -5 }, 'relay.dataLimitBytes'],
      [{ maxCircuitsPerPeer: 0 }, 'relay.maxCircuitsPerPeer'],
      [{ hopTimeoutMs: Number.NaN }, 'relay.hopTimeoutMs'],
      [{ enabled: 'yes' }, 'relay.enabled']
    ]
    for (const [partial, key] of bad) {
      expect(() => checkRelayOptions({ ...RELAY_DEFAULTS, ...partial } as any), key).to.throw(key).with.property('code', 'CONFIG_INVALID')
    }
  })

  it('one /p2p-circuit listen address per slot, none when off', () => {
    expect(relayListenAddrs({ ...RELAY_DEFAULTS, reservations: 2 })).to.deep.equal(['/p2p-circuit', '/p2p-circuit'])
    expect(relayListenAddrs({ ...RELAY_DEFAULTS, reservations: 0 })).to.deep.equal([])
    expect(relayListenAddrs({ ...RELAY_DEFAULTS, enabled: false })).to.deep.equal([])
  })

  it('advertised relayed addresses through a relay\'s private or loopback address are dropped when that relay gave a public one', () => {
    const R1 = '12D3KooWGMYMmN1RGUYjWaSV6P3XtnBjwnosnJGNMnttfVCRnd6g'
    const R2 = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    const me = '12D3KooWReeFtMFCUMqN8zvBmkWos9KDD32dnvvivt2Rujpv7FrD'
    const addrs = [
      '/ip4/10.0.0.5/udp/1/quic-v1',
      `/ip4/11.77.0.1/udp/4001/quic-v1/p2p/${R1}/p2p-circuit/p2p/${me}`,
      `/ip4/127.0.0.1/udp/4001/quic-v1/p2p/${R1}/p2p-circuit/p2p/${me}`,
      `/ip4/10.77.3.10/udp/4001/quic-v1/p2p/${R1}/p2p-circuit/p2p/${me}`,
      `/ip4/192.168.1.2/tcp/4001/p2p/${R2}/p2p-circuit/p2p/${me}`
    ].map(a => multiaddr(a))
    expect(relayedAddrFilter(addrs).map(String)).to.deep.equal([addrs[0], addrs[1], addrs[4]].map(String))
  })

  it('advertised relayed addresses through the dialling port of a relay that dialled us are dropped when that relay gave another address', () => {
    const R1 = '12D3KooWGMYMmN1RGUYjWaSV6P3XtnBjwnosnJGNMnttfVCRnd6g'
    const R2 = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    const me = '12D3KooWReeFtMFCUMqN8zvBmkWos9KDD32dnvvivt2Rujpv7FrD'
    const addrs = [
      `/ip4/11.77.0.101/udp/52571/quic-v1/p2p/${R1}/p2p-circuit/p2p/${me}`,
      `/ip4/11.77.0.101/udp/4001/quic-v1/p2p/${R1}/p2p-circuit/p2p/${me}`,
      // The only address R2 gave: kept, whatever the connection it came over.
      `/ip4/11.77.0.102/udp/40000/quic-v1/p2p/${R2}/p2p-circuit/p2p/${me}`
    ].map(a => multiaddr(a))
    const inbound: Record<string, string[]> = { [R1]: [`/ip4/11.77.0.101/udp/52571/quic-v1/p2p/${R1}`], [R2]: [`/ip4/11.77.0.102/udp/40000/quic-v1/p2p/${R2}`] }
    expect(relayedAddrFilter(addrs, (r) => inbound[r] ?? []).map(String)).to.deep.equal([addrs[1], addrs[2]].map(String))
    // Without connections from the relay, nothing is dropped.
    expect(relayedAddrFilter(addrs).map(String)).to.deep.equal(addrs.map(String))
  })

  it('`server: auto` serves only with a public or DNS (announced) address that is not relayed', () => {
    const am = (addrs: string[]): { getAddresses(): any[] } => ({ getAddresses: () => addrs.map(a => multiaddr(a)) })
    expect(hasPublicAddress(am(['/ip4/127.0.0.1/udp/1/quic-v1', '/ip4/10.1.2.3/tcp/1', '/ip4/100.64.0.1/tcp/1', '/ip4/192.0.2.1/tcp/1']))).to.equal(false)
    expect(hasPublicAddress(am(['/ip4/8.8.8.8/udp/4001/quic-v1/p2p/12D3KooWGMYMmN1RGUYjWaSV6P3XtnBjwnosnJGNMnttfVCRnd6g/p2p-circuit']))).to.equal(false)
    expect(hasPublicAddress(am(['/ip4/127.0.0.1/tcp/1', '/ip4/8.8.8.8/udp/4001/quic-v1']))).to.equal(true)
    expect(hasPublicAddress(am(['/dns4/relay.example.net/tcp/4001']))).to.equal(true)
  })
})
