import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { authenticatedOnlyMapper } from '../../src/node/index.ts'
import { rawHostile } from '../protocols/auth/hostile.ts'
import { createTestCa, enroll, eventually, loopbackOptions, startNode, waitForEvent } from './fixtures.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { AuthFailure } from '../../protocols/auth/index.ts'
import type { MeshNode } from '../../src/node/index.ts'
import type { HostileNode } from '../protocols/auth/hostile.ts'
import type { PeerId, Stream } from '@libp2p/interface'

const KAD = '/dadm-mesh/kad/1.0.0'

// --- a few protobuf bytes by hand: kad-dht's Message and Record (dht.proto) ---
function varint (n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return out
}
function bytesField (no: number, b: Uint8Array): number[] {
  return [...varint((no << 3) | 2), ...varint(b.length), ...b]
}
/**
 * A key in a test namespace whose validator accepts anything, so only who may put decides. (Not
 * /pk/: kad-dht answers /pk/ lookups from the peer store, which knows every connected key.)
 */
function recordKey (peerId: PeerId): Uint8Array {
  return new TextEncoder().encode(`/dadm-test/${peerId.toString()}`)
}
const ACCEPT_ANY = { 'dadm-test': () => {} }
function putValue (key: Uint8Array, value: Uint8Array): Uint8Array {
  const record = Uint8Array.from([...bytesField(1, key), ...bytesField(2, value), ...bytesField(5, new TextEncoder().encode(new Date().toISOString()))])
  return Uint8Array.from([0x08, 0x00, ...bytesField(2, key), ...bytesField(3, record)])
}
function getValue (key: Uint8Array): Uint8Array {
  return Uint8Array.from([0x08, 0x01, ...bytesField(2, key)])
}
/** True when a kad response carries field 3 (a record). */
function hasRecord (msg: Uint8Array): boolean {
  let i = 0
  while (i < msg.length) {
    const tag = msg[i++]
    const wire = tag & 7
    if (wire === 0) { while ((msg[i++] & 0x80) !== 0) { } continue }
    if (wire !== 2) { return false }
    let len = 0
    let shift = 0
    let b: number
    do { b = msg[i++]; len |= (b & 0x7f) << shift; shift += 7 } while ((b & 0x80) !== 0)
    if (tag >>> 3 === 3) { return true }
    i += len
  }
  return false
}
async function rpc (stream: Stream, request: Uint8Array): Promise<Uint8Array> {
  const lp = lpStream(stream)
  await lp.write(request)
  return (await lp.read({ signal: AbortSignal.timeout(5_000) })).subarray()
}

describe('DHT: unauthenticated peers get no records and no routing-table entries', function () {
  let tca: TestCa
  let nEnrolled: Enrolled
  let bEnrolled: Enrolled
  let n: MeshNode
  let b: MeshNode
  const hostiles: HostileNode[] = []

  before(async () => {
    tca = await createTestCa('dht')
    nEnrolled = await enroll(tca, 'dht-n')
    bEnrolled = await enroll(tca, 'dht-b')
  })

  beforeEach(async () => {
    n = await startNode('n', nEnrolled, tca, loopbackOptions('quic', { auth: { deadlineMs: 1_000 } }), { dhtValidators: ACCEPT_ANY })
    b = await startNode('b', bEnrolled, tca, loopbackOptions('quic', { auth: { deadlineMs: 1_000 } }), { dhtValidators: ACCEPT_ANY })
  })

  afterEach(async () => {
    await Promise.all(hostiles.splice(0).map(async h => { await h.stop() }))
    await Promise.all([n.stop(), b.stop()])
  })

  after(async () => {
    await tca.close()
  })

  const tableSize = (node: MeshNode): number => (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size

  it('the peer-info mapper hides every peer that has not authenticated, except ourselves', async () => {
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const known = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const addrs = [multiaddr('/ip4/127.0.0.1/udp/1/quic-v1')]
    const map = authenticatedOnlyMapper((p) => p === known.toString(), self)
    expect(map({ id: stranger, multiaddrs: addrs }).multiaddrs).to.deep.equal([])
    expect(map({ id: known, multiaddrs: addrs }).multiaddrs).to.deep.equal(addrs)
    expect(map({ id: self, multiaddrs: addrs }).multiaddrs).to.deep.equal(addrs)
  })

  it('stores a record from an authenticated peer, refuses the same from an unauthenticated one', async () => {
    await b.dial(n.getMultiaddrs()[0])
    // 1. control: b (authenticated) puts its /pk/ record; n echoes the put and then serves it
    const bKey = recordKey(b.peerId)
    const echoed = await rpc(await b.openStream(n.peerId, KAD), putValue(bKey, new TextEncoder().encode('from b')))
    expect(echoed.length).to.be.greaterThan(0)
    expect(hasRecord(await rpc(await b.openStream(n.peerId, KAD), getValue(bKey)))).to.equal(true)
    // 2. a hostile with no certificate puts an equally valid record
    const hostile = await rawHostile('dht-hostile')
    hostiles.push(hostile)
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
    const connection = await hostile.dial(n.getMultiaddrs()[0])
    const hKey = recordKey(hostile.peerId)
    // Before auth every stream but auth's is answered `na` (held until the auth verdict), so the
    // stranger cannot even select the DHT protocol, let alone put a record.
    const refused = await (async () => rpc(await connection.newStream(KAD), putValue(hKey, new TextEncoder().encode('from a stranger'))))().then(() => null, (err: Error) => err)
    expect(refused).to.have.property('name', 'UnsupportedProtocolError')
    expect((await failed).code).to.equal('TIMEOUT')
    // 3. n never stored it
    expect(hasRecord(await rpc(await b.openStream(n.peerId, KAD), getValue(hKey)))).to.equal(false)
  })

  it('never puts an unauthenticated peer that speaks kad into the routing table or the peer store', async () => {
    const hostile = await rawHostile('dht-lurker')
    hostiles.push(hostile)
    await hostile.handle(KAD, () => {})
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
    await hostile.dial(n.getMultiaddrs()[0])
    await b.dial(n.getMultiaddrs()[0])
    await eventually(() => tableSize(n) === 1)
    expect((await failed).code).to.equal('TIMEOUT')
    expect(tableSize(n)).to.equal(1)
    const stored = await n.libp2p.peerStore.get(hostile.peerId).catch(() => undefined)
    expect(stored?.protocols ?? []).to.deep.equal([])
  })
})
