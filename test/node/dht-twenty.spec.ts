import { expect } from 'aegir/chai'
import { BOOTSTRAP_SERVER_PROFILE } from '../../src/cli/commands/bootstrap-server.ts'
import { createTestCa, enroll, eventually, loopbackOptions, startNode } from './fixtures.ts'
import type { TestCa } from './fixtures.ts'
import type { MeshNode } from '../../src/node/index.ts'

/**
 * Twenty members that know only one bootstrap server (the `bootstrap-server` profile: DHT server
 * mode, raised inbound limits, no discovery dials) find each other through the DHT, over real
 * QUIC, each on its own loopback address (127.0.0.2 ... 127.0.0.21) as separate hosts would be.
 */
const MEMBERS = 20

describe('mesh formation: 20 nodes through one bootstrap server (QUIC, kad-dht)', function () {
  let tca: TestCa
  const nodes: MeshNode[] = []

  before(async () => { tca = await createTestCa('dht20') })
  after(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await tca.close()
  })

  /**
   * A network lookup of `other` (not the local cache), then a dial of its PeerId with the
   * addresses that came back. Up to three tries: while twenty members join at once on a loaded
   * host, a walk can end on servers whose tables do not hold `other` yet, and a dial can meet
   * a peer still busy with its own discovery dials. A try that fails says which step failed.
   */
  async function linkThroughDht (m: MeshNode, other: MeshNode, j: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (m.isAuthenticated(other.peerId)) { return }
      let step = 'lookup'
      try {
        const found = await m.libp2p.peerRouting.findPeer(other.peerId, { useCache: false, signal: AbortSignal.timeout(15_000) } as any)
        expect(found.multiaddrs.map(String).some(a => a.includes(`/ip4/127.0.0.${j + 2}/`)), `lookup of member ${j}`).to.equal(true)
        step = 'dial'
        const peer = await m.dial(other.peerId, { signal: AbortSignal.timeout(15_000) })
        expect(peer.nodeId).to.equal(`member-${j}`)
        return
      } catch (err: any) {
        if (attempt >= 3) { throw new Error(`member ${j}: ${step} failed on try ${attempt}: ${err?.name}: ${err?.message}`) }
        await new Promise(resolve => setTimeout(resolve, 2_500))
      }
    }
  }

  it('every member finds every other member through the DHT and authenticates a link to it', async () => {
    const server = await startNode('boot', await enroll(tca, 'boot'), tca, loopbackOptions('quic', {
      ...BOOTSTRAP_SERVER_PROFILE,
      listen: ['/ip4/127.0.0.1/udp/0/quic-v1']
    }))
    nodes.push(server)
    const bootAddr = server.getMultiaddrs()[0].toString()
    const members: MeshNode[] = []
    for (let i = 0; i < MEMBERS; i++) {
      const m = await startNode(`m${i}`, await enroll(tca, `member-${i}`), tca, loopbackOptions('quic', {
        listen: [`/ip4/127.0.0.${i + 2}/udp/0/quic-v1`],
        bootstrap: [bootAddr],
        discovery: { dialDiscovered: true },
        // A dial that times out while twenty nodes start on two cores earns the peer a back-off; the
        // default 30 s would outlast this test's retries. What the back-off does has tests of its own.
        backoff: { initialMs: 2_000, maxMs: 2_000 }
      }))
      members.push(m)
      nodes.push(m)
    }
    // 1. Every member reaches the bootstrap server (its one configured address) and authenticates.
    // Wait on both views: the server's table can trail a member's by the last flight, or by a
    // redial when a kad query closed the first connection.
    const serverLinks = (): number => server.peers.rows().filter(r => r.status === 'authenticated').length
    await eventually(() => members.every(m => m.isAuthenticated(server.peerId)) && serverLinks() === MEMBERS, 30_000)
    expect(serverLinks()).to.equal(MEMBERS)

    // 2. Members learn of each other only from DHT answers (mDNS is off, the bootstrap list names
    // the server alone); discovery dials form most links. For every pair still without a link,
    // the member looks the other up in the DHT (a network query, not the local cache) and dials
    // the PeerId with the addresses it got back.
    const t0 = Date.now()
    let lookups = 0
    // Five members at a time: twenty walking the DHT and dialling at once starve two cores, and an
    // auth that misses its 5 s deadline is then refused, which is not what this test is about.
    const linkAll = async (m: MeshNode): Promise<void> => {
      for (const other of members) {
        if (other === m || m.isAuthenticated(other.peerId)) { continue }
        lookups++
        await linkThroughDht(m, other, members.indexOf(other))
      }
    }
    for (let i = 0; i < members.length; i += 5) { await Promise.all(members.slice(i, i + 5).map(linkAll)) }
    // 3. Every member has authenticated every other member: each is in its peer table (which only
    // authenticated peers enter), whatever the state of that link now.
    const memberIds = new Set(members.map(m => m.peerId.toString()))
    const known = (m: MeshNode): number => m.peers.rows().filter(r => memberIds.has(r.peer_id)).length
    const links = (m: MeshNode): number => m.peers.rows().filter(r => r.status === 'authenticated' && memberIds.has(r.peer_id)).length
    // eslint-disable-next-line no-console -- lookups and links are this test's figures
    console.log(`      ${lookups} DHT lookups for pairs without a link resolved and dialled in ${Date.now() - t0} ms; open authenticated links per member: ${members.map(links).join(' ')}`)
    for (const m of members) { expect(known(m)).to.equal(MEMBERS - 1) }
    // None was told another member's address: the bootstrap server is all it was configured with.
    for (const m of members) { expect(m.options.bootstrap).to.deep.equal([bootAddr]) }
  })
})
