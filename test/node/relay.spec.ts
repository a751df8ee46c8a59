import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport, RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { ANOMALY_TOPIC } from '../../protocols/anomaly-gossip/index.ts'
import { BundleService } from '../../protocols/bundle/bundle-service.ts'
import { parseAttestationPolicy } from '../../src/attestation/policy.ts'
import { relayStatus } from '../../src/node/index.ts'
import { agentFor, Clock, tempStore } from '../dtn/fixtures.ts'
import { createTestCa, enroll, eventually, startNode, waitForEvent } from './fixtures.ts'
import { startGossipNode, stopAll, waitMeshed } from './gossip-fixtures.ts'
import { varintFields } from './protobuf-fields.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { GossipNode } from './gossip-fixtures.ts'
import type { EvidenceProver, PeerDemotedEvent } from '../../protocols/attest/index.ts'
import type { AuthenticatedPeer } from '../../protocols/auth/index.ts'
import type { BundleAgent, DeliveredBundle } from '../../src/dtn/bundle-agent.ts'
import type { PeerAttestedEvent } from '../../src/node/index.ts'
import type { MeshNode, MeshNodeConfig, MeshNodeInit } from '../../src/node/index.ts'
import type { AnomalyRecord } from '../../src/store/anomaly-store.ts'
import type { TempStore } from '../dtn/fixtures.ts'
import type { Libp2p, Stream } from '@libp2p/interface'

/**
 * Circuit relay v2 among members, with real nodes on loopback: a relay member R (QUIC and TCP),
 * a member A that speaks only QUIC and a member B that speaks only TCP, so A and B cannot dial
 * each other directly and meet only through R. B keeps a reservation on R and advertises the
 * relayed address; A dials it. Strangers are plain libp2p peers with no certificate.
 */

/** R: serves relay, keeps no slot itself, no gossip (so A and B's gossip can only cross their own circuit). */
function relayOptions (host: number): MeshNodeConfig {
  return {
    listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`, `/ip4/127.0.0.${host}/tcp/0`],
    transports: { quic: true, tcp: true },
    mdns: { enabled: false },
    dht: { enabled: false },
    discovery: { dialDiscovered: false },
    gossip: { enabled: false },
    // A stranger's connection is closed by auth's deadline: keep the refusal tests short.
    auth: { deadlineMs: 2_000 },
    relay: { server: 'on', reservations: 0 }
  }
}

const QUIC_ONLY = (host: number, reservations = 0): MeshNodeConfig => ({
  listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`],
  transports: { quic: true, tcp: false },
  relay: { server: 'off', reservations }
})

const TCP_ONLY = (host: number, reservations = 1): MeshNodeConfig => ({
  listen: [`/ip4/127.0.0.${host}/tcp/0`],
  transports: { quic: false, tcp: true },
  relay: { server: 'off', reservations }
})

function addrOf (node: MeshNode, transport: 'quic' | 'tcp'): string {
  const found = node.getMultiaddrs().map(String).find(a => !a.includes('/p2p-circuit') && a.includes(transport === 'quic' ? '/quic-v1' : '/tcp/'))
  if (found == null) { throw new Error(`no ${transport} address`) }
  return found
}

/** B's relayed address through `relay`, over the relay's QUIC address (the one a QUIC-only member can reach). */
function relayedAddrOf (node: MeshNode, relay: MeshNode): string {
  const found = relayStatus(node).relayedAddrs.find(a => a.includes(`/p2p/${relay.peerId.toString()}/p2p-circuit`) && a.includes('/quic-v1'))
  if (found == null) { throw new Error('no relayed QUIC address') }
  return found
}

/** A protobuf HopMessage's `status` (field 5), or undefined. */
function hopStatus (bytes: Uint8Array): number | undefined {
  return varintFields(bytes).get(5)
}

/** HopMessage { type: RESERVE } */
const HOP_RESERVE = Uint8Array.from([0x08, 0x00])
const STATUS_OK = 100

describe('circuit relay v2 among members (loopback: relay member, QUIC-only member, TCP-only member)', function () {
  let tca: TestCa
  const who: Record<string, Enrolled> = {}
  const started: MeshNode[] = []
  const gossipNodes: GossipNode[] = []
  const strangers: Libp2p[] = []
  const cleanups: Array<() => Promise<void>> = []

  before(async () => {
    tca = await createTestCa('relay')
    for (const id of ['relay-r', 'relay-r2', 'relay-a', 'relay-b']) { who[id] = await enroll(tca, id) }
  })
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) { await c() }
    await stopAll(gossipNodes.splice(0))
    await Promise.all(started.splice(0).map(async n => { await n.stop() }))
    await Promise.all(strangers.splice(0).map(async s => { await s.stop() }))
  })
  after(async () => { await tca.close() })

  async function relayNode (id: string, host: number, init: Partial<MeshNodeInit> = {}): Promise<MeshNode> {
    const node = await startNode(id, who[id], tca, relayOptions(host), init)
    started.push(node)
    return node
  }

  async function member (id: string, host: number, options: MeshNodeConfig, init: Parameters<typeof startGossipNode>[3]['init'] = {}): Promise<GossipNode> {
    const g = await startGossipNode(id, who[id], tca, { host, options, init })
    gossipNodes.push(g)
    return g
  }

  /** R, A (QUIC only) and B (TCP only, one slot), each linked to R; resolves once B holds its slot on R. */
  async function threeNodes (init: { r?: Partial<MeshNodeInit>, a?: Parameters<typeof member>[3], b?: Parameters<typeof member>[3] } = {}): Promise<{ R: MeshNode, A: GossipNode, B: GossipNode }> {
    const R = await relayNode('relay-r', 41, init.r)
    const A = await member('relay-a', 42, QUIC_ONLY(42), init.a)
    const B = await member('relay-b', 43, TCP_ONLY(43), init.b)
    await A.node.dial(addrOf(R, 'quic'), { signal: AbortSignal.timeout(10_000) })
    await B.node.dial(addrOf(R, 'tcp'), { signal: AbortSignal.timeout(10_000) })
    await eventually(() => relayStatus(B.node).relays.includes(R.peerId.toString()), 15_000)
    return { R, A, B }
  }

  async function stranger (): Promise<Libp2p> {
    const s = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.49/tcp/0'] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [tls()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    strangers.push(s)
    return s
  }

  it('a member reaches a NAT\'d member through a member relay: auth end to end over TLS 1.3, the connection marked limited', async () => {
    const { R, A, B } = await threeNodes()
    // No direct path: A speaks QUIC only, B listens on TCP only.
    await expect(A.node.libp2p.dial(multiaddr(`${addrOf(B.node, 'tcp')}/p2p/${B.peerId}`), { signal: AbortSignal.timeout(5_000) })).to.be.rejected()
    const onB = waitForEvent<AuthenticatedPeer>(B.node, 'peer:authenticated', p => p.peerId === A.peerId)
    const peer = await A.node.dial(relayedAddrOf(B.node, R), { signal: AbortSignal.timeout(15_000) })
    expect(peer).to.include({ nodeId: 'relay-b', peerId: B.peerId, transport: 'relay' })
    expect(await onB).to.include({ nodeId: 'relay-a', transport: 'relay' })
    const [conn] = A.node.libp2p.getConnections(B.node.peerId)
    // Encrypted end to end between A and B (TLS 1.3 verified B's host key); R only forwards the circuit.
    expect(conn.encryption).to.equal('/tls/1.0.0')
    expect(conn.remotePeer.equals(B.node.peerId)).to.equal(true)
    expect(conn.limits, 'relayed connections carry the relay limits').to.not.equal(undefined)
    expect(conn.remoteAddr.toString()).to.include(`/p2p/${R.peerId.toString()}/p2p-circuit`)
    expect(relayStatus(R)).to.include({ serving: true, reservationsGranted: 1 })
    // Reused, not redialled: a second circuit per call would mean a second auth per call.
    const again = await A.node.openStream(B.peerId, '/dadm-mesh/ping/1.0.0', { runOnLimitedConnection: true, signal: AbortSignal.timeout(5_000) })
    again.abort(new Error('done'))
    expect(A.node.libp2p.getConnections(B.node.peerId)).to.have.lengthOf(1)
  })

  it('gossip runs over the relayed (limited) connection', async () => {
    const { R, A, B } = await threeNodes()
    await A.node.dial(relayedAddrOf(B.node, R), { signal: AbortSignal.timeout(15_000) })
    await waitMeshed([[A, B]])
    const got = waitForEvent<AnomalyRecord>(B.node, 'anomaly', r => r.source === 'gossip')
    const before = relayStatus(R).relayedBytes
    const published = await A.node.publishAnomaly({ type: 'sha256', value: 'ab'.repeat(32), meta: { rule: 'relay' } })
    expect((await got).message_id).to.equal(published.messageId)
    expect(relayStatus(R).relayedBytes, 'the relay counted the signature it carried').to.be.greaterThan(before)
    // R runs no gossip: the signature crossed the circuit.
    expect(R.libp2p.services.pubsub).to.equal(undefined)
    expect(A.pubsub.getMeshPeers(ANOMALY_TOPIC)).to.deep.equal([B.peerId])
  })

  it('attestation runs over the relayed (limited) connection', async () => {
    const lenient = parseAttestationPolicy({ accept_none: true })
    const { R, A, B } = await threeNodes({ b: { attestation: { policy: lenient } } })
    const attested = waitForEvent<PeerAttestedEvent>(B.node, 'peer:attested', e => e.peerId === A.peerId)
    await A.node.dial(relayedAddrOf(B.node, R), { signal: AbortSignal.timeout(15_000) })
    expect(await attested).to.deep.include({ attested: false, type: 'none' })
    expect(B.node.attest.statusOf(A.peerId).status).to.equal('accepted-none')
  })

  it('a bundle crosses the relayed connection and is delivered exactly once', async () => {
    const { R, A, B } = await threeNodes()
    const clock = new Clock()
    const stores: TempStore[] = []
    const bundleMember = async (g: GossipNode, id: string): Promise<{ agent: BundleAgent, service: BundleService }> => {
      const ts = await tempStore()
      stores.push(ts)
      const agent = await agentFor(who[id], ts.store, tca, clock)
      const service = new BundleService({ node: g.node, agent, tickMs: 200 })
      await service.start()
      cleanups.push(async () => { await service.stop(); await agent.store.close(); await ts.destroy() })
      return { agent, service }
    }
    const a = await bundleMember(A, 'relay-a')
    const b = await bundleMember(B, 'relay-b')
    const delivered: DeliveredBundle[] = []
    b.agent.addEventListener('bundle:delivered', (evt) => { delivered.push(evt.detail) })
    const got = waitForEvent<DeliveredBundle>(b.agent, 'bundle:delivered')
    const sent = await a.agent.send({ destination: 'relay-b', ttlSec: 600, payload: Buffer.from('through the relay') })
    await A.node.dial(relayedAddrOf(B.node, R), { signal: AbortSignal.timeout(15_000) })
    const d = await got
    expect(d.bundleId).to.equal(sent.bundleId)
    expect(Buffer.from(d.payload).toString()).to.equal('through the relay')
    // A lets go once B acknowledged; another pump over the same circuit sends nothing again.
    await until(async () => (await a.agent.store.listOutbound()).length === 0, 10_000)
    await a.service.pump('relay-b')
    expect(delivered).to.have.lengthOf(1)
  })

  it('a NAT\'d member keeps reservations on two member relays and advertises both relayed addresses to members', async () => {
    const R1 = await relayNode('relay-r', 41)
    const R2 = await relayNode('relay-r2', 44)
    const N = await member('relay-b', 43, TCP_ONLY(43, 2))
    await N.node.dial(addrOf(R1, 'tcp'), { signal: AbortSignal.timeout(10_000) })
    await N.node.dial(addrOf(R2, 'tcp'), { signal: AbortSignal.timeout(10_000) })
    await eventually(() => relayStatus(N.node).relays.length === 2, 15_000)
    expect(relayStatus(N.node).relays).to.have.members([R1.peerId.toString(), R2.peerId.toString()])
    // identify push: each relay (a member) learns N's relayed addresses through both relays
    await until(async () => {
      const circuits = await knownCircuits(R1, N.node)
      return circuits.some(a => a.includes(`${R1.peerId.toString()}/p2p-circuit`)) && circuits.some(a => a.includes(`${R2.peerId.toString()}/p2p-circuit`))
    }, 10_000)
  })

  it('a NAT\'d member that knows one bootstrap relay finds a second member relay through the DHT and reserves on both', async () => {
    const withDht = (host: number): MeshNodeConfig => ({ ...relayOptions(host), dht: { enabled: true, mode: 'server' } })
    const R1 = await startNode('relay-r', who['relay-r'], tca, withDht(41))
    const R2 = await startNode('relay-r2', who['relay-r2'], tca, withDht(44))
    started.push(R1, R2)
    await R2.dial(addrOf(R1, 'tcp'), { signal: AbortSignal.timeout(10_000) })
    const N = await startNode('relay-b', who['relay-b'], tca, {
      ...TCP_ONLY(43, 2),
      mdns: { enabled: false },
      gossip: { enabled: false },
      dht: { enabled: true, mode: 'client' },
      discovery: { dialDiscovered: true },
      bootstrap: [`${addrOf(R1, 'tcp')}/p2p/${R1.peerId.toString()}`]
    })
    started.push(N)
    await eventually(() => relayStatus(N).relays.length === 2, 30_000)
    expect(relayStatus(N).relays).to.have.members([R1.peerId.toString(), R2.peerId.toString()])
  })

  it('a member demoted by attestation on the relay may not open a relayed connection through it', async () => {
    const lenient = parseAttestationPolicy({ accept_none: true })
    const failing: EvidenceProver = async () => { throw new Error('TPM gone') }
    const R = await relayNode('relay-r', 41, { attestation: { policy: lenient } })
    const A = await member('relay-a', 42, QUIC_ONLY(42), { attestation: { prover: failing } })
    const B = await member('relay-b', 43, TCP_ONLY(43))
    const demoted = waitForEvent<PeerDemotedEvent>(R, 'peer:demoted', e => e.peerId === A.peerId)
    await A.node.dial(addrOf(R, 'quic'), { signal: AbortSignal.timeout(10_000) })
    expect((await demoted).code).to.equal('PROVER_FAILED')
    await B.node.dial(addrOf(R, 'tcp'), { signal: AbortSignal.timeout(10_000) })
    await eventually(() => relayStatus(B.node).relays.includes(R.peerId.toString()), 15_000)
    // A is authenticated on R (the auth guard lets its hop stream through): the gate refuses it.
    await expect(A.node.dial(relayedAddrOf(B.node, R), { signal: AbortSignal.timeout(10_000) })).to.be.rejected()
    expect(B.node.libp2p.getConnections(A.node.peerId)).to.have.lengthOf(0)
    expect(relayStatus(R).refused.connect).to.be.greaterThan(0)
  })

  it('`relay.server: auto` serves only once the node advertises a public address (announced here)', async () => {
    const loopbackOnly = await startNode('relay-r', who['relay-r'], tca, { ...relayOptions(41), relay: { server: 'auto', reservations: 0 } })
    started.push(loopbackOnly)
    const announced = await startNode('relay-r2', who['relay-r2'], tca, { ...relayOptions(44), announce: ['/ip4/8.8.8.8/udp/4001/quic-v1'], relay: { server: 'auto', reservations: 0 } })
    started.push(announced)
    await eventually(() => relayStatus(announced).serving, 5_000)
    expect(relayStatus(loopbackOnly).serving).to.equal(false)
    expect(loopbackOnly.libp2p.getProtocols()).to.not.include(RELAY_V2_HOP_CODEC)
    expect(announced.libp2p.getProtocols()).to.include(RELAY_V2_HOP_CODEC)
  })

  it('a stranger is refused a reservation, and nothing is reserved for it', async () => {
    const R = await relayNode('relay-r', 41)
    const s = await stranger()
    let reserved = 0
    ;(R.libp2p.services as any).relay.relay.addEventListener('relay:reservation', () => { reserved++ })
    const answer = await rawHop(s, addrOf(R, 'tcp') + `/p2p/${R.peerId.toString()}`, HOP_RESERVE)
    expect(answer.status, 'a stranger never gets OK').to.not.equal(STATUS_OK)
    expect(relayStatus(R).reservationsGranted).to.equal(0)
    expect((R.libp2p.services as any).relay.relay.reservations.has(s.peerId)).to.equal(false)
    expect(reserved).to.equal(0)
  })

  it('a stranger cannot open a relayed connection to a member: the member sees no connection from it', async () => {
    const { R, B } = await threeNodes()
    const s = await stranger()
    const target = relayStatus(B.node).relayedAddrs.find(a => a.includes('/tcp/') && a.includes(R.peerId.toString()))
    expect(target).to.be.a('string')
    await expect(s.dial(multiaddr(target as string), { signal: AbortSignal.timeout(10_000) })).to.be.rejected()
    expect(B.node.libp2p.getConnections(s.peerId)).to.have.lengthOf(0)
    expect(B.node.peers.rows().map(r => r.peer_id)).to.not.include(s.peerId.toString())
    expect(relayStatus(R).reservationsGranted).to.equal(1)
  })
})

/** The circuit addresses `node` knows for `of` (its peer store, filled by identify and identify push). */
async function knownCircuits (node: MeshNode, of: MeshNode): Promise<string[]> {
  const peer = await node.libp2p.peerStore.get(of.peerId).catch(() => undefined)
  return (peer?.addresses ?? []).map(a => a.multiaddr.toString()).filter(a => a.includes('/p2p-circuit'))
}

/** Polls an async `check` every 20 ms until it holds or `ms` pass (state with no event: a store, a peer store). */
async function until (check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) { throw new Error('condition not met in time') }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Opens the hop protocol on a fresh connection from `s` and sends one HopMessage; the answer's status, or none when the stream was refused or reset. */
async function rawHop (s: Libp2p, addr: string, message: Uint8Array): Promise<{ status?: number }> {
  let stream: Stream | undefined
  try {
    stream = await s.dialProtocol(multiaddr(addr), RELAY_V2_HOP_CODEC, { signal: AbortSignal.timeout(10_000) })
    const lp = lpStream(stream)
    await lp.write(message, { signal: AbortSignal.timeout(10_000) })
    const reply = await lp.read({ signal: AbortSignal.timeout(10_000) })
    return { status: hopStatus(reply.subarray()) }
  } catch {
    return {}
  } finally {
    stream?.abort(new Error('done'))
  }
}
