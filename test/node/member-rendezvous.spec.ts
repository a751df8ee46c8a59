import { prefixLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { createMeshNode, relayStatus } from '../../src/node/index.ts'
import { memberRendezvousKey } from '../../src/node/member-rendezvous.ts'
import { createTestCa, enroll, eventually, NOW, verifierFor } from './fixtures.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { MeshNode, MeshNodeConfig } from '../../src/node/index.ts'

/**
 * Members behind NATs meet through the DHT rendezvous, with real nodes on loopback: a relay
 * member R (QUIC and TCP, DHT server, the only bootstrap peer), a member A that speaks only QUIC
 * and a member B that speaks only TCP, both DHT clients, so A and B cannot dial each other
 * directly and no routing table names them. The test never dials: each knows only R, and the
 * keepers must find each other through R's provider records and connect through R's relay.
 */

/** Short keeper periods so the loopback run takes seconds; the mechanism is the same. */
const KEEP_ALIVE = { checkMs: 300, rendezvousMs: 500, dhtQueryMs: 60_000, targetMembers: 4 }

function relayOptions (host: number): MeshNodeConfig {
  return {
    listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`, `/ip4/127.0.0.${host}/tcp/0`],
    transports: { quic: true, tcp: true },
    mdns: { enabled: false },
    dht: { mode: 'server' },
    gossip: { enabled: false },
    keepAlive: KEEP_ALIVE,
    relay: { server: 'on', reservations: 0 }
  }
}

function memberOptions (host: number, transport: 'quic' | 'tcp', bootstrap: string, keepAlive: MeshNodeConfig['keepAlive'] = KEEP_ALIVE): MeshNodeConfig {
  return {
    listen: [transport === 'quic' ? `/ip4/127.0.0.${host}/udp/0/quic-v1` : `/ip4/127.0.0.${host}/tcp/0`],
    transports: { quic: transport === 'quic', tcp: transport === 'tcp' },
    mdns: { enabled: false },
    dht: { mode: 'client' },
    gossip: { enabled: false },
    bootstrap: [bootstrap],
    keepAlive,
    relay: { server: 'off', reservations: 1 }
  }
}

function bootstrapAddr (node: MeshNode, transport: 'quic' | 'tcp'): string {
  const found = node.getMultiaddrs().map(String).find(a => !a.includes('/p2p-circuit') && a.includes(transport === 'quic' ? '/quic-v1' : '/tcp/'))
  if (found == null) { throw new Error(`no ${transport} address`) }
  return found.includes('/p2p/') ? found : `${found}/p2p/${node.peerId.toString()}`
}

function authenticatedTo (node: MeshNode, peer: MeshNode): boolean {
  return node.peers.list().some(r => r.peerId === peer.peerId.toString() && r.status === 'authenticated')
}

describe('member rendezvous (loopback: members that cannot dial each other meet through the DHT and a member relay)', function () {
  let tca: TestCa
  const who: Record<string, Enrolled> = {}
  const started: MeshNode[] = []

  before(async () => {
    tca = await createTestCa('rendezvous')
    for (const id of ['rv-r', 'rv-a', 'rv-b']) { who[id] = await enroll(tca, id) }
  })
  afterEach(async () => {
    await Promise.all(started.splice(0).map(async n => { await n.stop() }))
  })
  after(async () => { await tca.close() })

  async function start (id: string, options: MeshNodeConfig): Promise<MeshNode> {
    // The keeper's periods run on the node's clock: it must move (the fixtures' clock stands still).
    const startedAt = Date.now()
    const node = await createMeshNode({
      privateKey: who[id].hostKey,
      credentials: who[id].credentials,
      verifier: verifierFor(tca),
      options,
      now: () => NOW + Date.now() - startedAt,
      logger: prefixLogger(id)
    })
    started.push(node)
    return node
  }

  it('the rendezvous key is one CID per DHT protocol, the same on every start', async () => {
    const a = await memberRendezvousKey('/dadm-mesh/kad/1.0.0')
    expect((await memberRendezvousKey('/dadm-mesh/kad/1.0.0')).equals(a)).to.equal(true)
    expect((await memberRendezvousKey('/other/kad/1.0.0')).equals(a)).to.equal(false)
  })

  it('a QUIC-only and a TCP-only member that know only the relay end up authenticated to each other through it, with no test dial', async function () {
    this.timeout(60_000)
    const R = await start('rv-r', relayOptions(61))
    const A = await start('rv-a', memberOptions(62, 'quic', bootstrapAddr(R, 'quic')))
    const B = await start('rv-b', memberOptions(63, 'tcp', bootstrapAddr(R, 'tcp')))
    await eventually(() => authenticatedTo(A, B) && authenticatedTo(B, A), 40_000)
    const row = A.peers.list().find(r => r.peerId === B.peerId.toString() && r.status === 'authenticated')
    // Nothing but R's relay joins them: A speaks QUIC only, B listens on TCP only.
    expect(row?.transport).to.equal('relay')
    expect(relayStatus(R).serving).to.equal(true)
  })
})
