import { quic } from '@chainsafe/libp2p-quic'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { defaultLogger } from '@libp2p/logger'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { AuthError, isGuarded } from '../../protocols/auth/index.ts'
import { memberAutonat } from '../../src/node/autonat.ts'
import { AUTONAT_DEFAULTS, AUTONAT_DIAL_BACK, AUTONAT_DIAL_REQUEST, AutonatLedger } from '../../src/node/index.ts'
import { createTestCa, enroll, loopbackOptions, startNode } from './fixtures.ts'
import { varintFields } from './protobuf-fields.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { MeshNode } from '../../src/node/index.ts'
import type { Libp2p, Stream } from '@libp2p/interface'

/**
 * AutoNAT v2 served by members to authenticated members only, on loopback with real QUIC: a
 * member's dial request reaches libp2p's AutoNAT server and is answered; the same request from a
 * stranger (a plain libp2p peer with no certificate) is refused by the auth guard before the
 * server sees it, so the server never dials anything for it.
 *
 * The request names an address no transport of the member can dial (`/ws`, which a mesh node
 * does not speak): the server then answers E_DIAL_REFUSED at once, without any dial, which
 * tells "served" from "refused" with no public address in the test.
 */

/** An address the member cannot dial (no WebSockets transport): the server answers E_DIAL_REFUSED. */
const UNDIALABLE = '/ip4/127.0.0.1/tcp/1/ws'
/** DialResponse.ResponseStatus.E_DIAL_REFUSED (autonat v2 proto). */
const E_DIAL_REFUSED = 101

/** Message { dialRequest: DialRequest { addrs: [addr], nonce } }, protobuf by hand: two fields are all it takes. */
function dialRequest (addr: string, nonce: bigint): Uint8Array {
  const a = multiaddr(addr).bytes
  const n = new Uint8Array(8)
  new DataView(n.buffer).setBigUint64(0, nonce, true)
  // DialRequest: field 1 bytes (0x0a), field 2 fixed64 (0x11)
  const inner = Uint8Array.from([0x0a, a.length, ...a, 0x11, ...n])
  // Message: field 1 (dialRequest) length-delimited
  return Uint8Array.from([0x0a, inner.length, ...inner])
}

/** The DialResponse inside a Message (field 2), or undefined when the message is another kind. */
function dialResponse (message: Uint8Array): Map<number, number> | undefined {
  if (message[0] !== 0x12) { return undefined }
  return varintFields(message.subarray(2, 2 + message[1]))
}

async function ask (stream: Stream, addr: string): Promise<Uint8Array> {
  const lp = lpStream(stream)
  await lp.write(dialRequest(addr, 7n), { signal: AbortSignal.timeout(5_000) })
  return (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()
}

describe('AutoNAT v2 among members (loopback, QUIC)', function () {
  let tca: TestCa
  const who: Record<string, Enrolled> = {}
  const nodes: MeshNode[] = []
  const strangers: Libp2p[] = []

  before(async () => {
    tca = await createTestCa('autonat')
    for (const id of ['autonat-a', 'autonat-b']) { who[id] = await enroll(tca, id) }
  })
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await Promise.all(strangers.splice(0).map(async s => { await s.stop() }))
  })
  after(async () => { await tca.close() })

  async function member (id: string): Promise<MeshNode> {
    // A stranger's connection ends at auth's deadline: 2 s keeps the refusal test short.
    const node = await startNode(id, who[id], tca, loopbackOptions('quic', { dht: { enabled: false }, auth: { deadlineMs: 2_000 } }))
    nodes.push(node)
    return node
  }

  async function stranger (): Promise<Libp2p> {
    const s = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] },
      transports: [quic()],
      services: { identify: identify() }
    })
    strangers.push(s)
    return s
  }

  function quicAddr (node: MeshNode): string {
    const a = node.getMultiaddrs().map(String).find(s => s.includes('/quic-v1'))
    if (a == null) { throw new Error('no QUIC address') }
    return a
  }

  it('both AutoNAT handlers are registered under the mesh prefix and guarded by mesh auth from the start', async () => {
    const A = await member('autonat-a')
    const registrar = (A.libp2p as any).components.registrar
    for (const protocol of [AUTONAT_DIAL_REQUEST, AUTONAT_DIAL_BACK]) {
      expect(A.libp2p.getProtocols()).to.include(protocol)
      expect(isGuarded(registrar.getHandler(protocol).handler), protocol).to.equal(true)
    }
    expect(A.libp2p.getProtocols().some(p => p.startsWith('/libp2p/autonat')), 'no public-network AutoNAT').to.equal(false)
  })

  it('DCUtR runs beside the relay transport: its handler is guarded by mesh auth and allowed on relayed (limited) connections; without the relay transport it is absent', async () => {
    const A = await member('autonat-a')
    const registrar = (A.libp2p as any).components.registrar
    const { handler, options } = registrar.getHandler('/libp2p/dcutr')
    expect(isGuarded(handler)).to.equal(true)
    expect(options.runOnLimitedConnection).to.equal(true)
    const B = await startNode('autonat-b', who['autonat-b'], tca, loopbackOptions('quic', { dht: { enabled: false }, relay: { enabled: false } }))
    nodes.push(B)
    expect(B.libp2p.getProtocols()).to.not.include('/libp2p/dcutr')
  })

  it('a member\'s dial request is served: libp2p\'s server answers it (E_DIAL_REFUSED for an address it cannot dial)', async () => {
    const A = await member('autonat-a')
    const B = await member('autonat-b')
    await B.dial(quicAddr(A), { signal: AbortSignal.timeout(10_000) })
    const stream = await B.openStream(A.peerId, AUTONAT_DIAL_REQUEST, { signal: AbortSignal.timeout(10_000) })
    const answer = dialResponse(await ask(stream, UNDIALABLE))
    expect(answer, 'a DialResponse').to.not.equal(undefined)
    expect(answer?.get(1), 'status').to.equal(E_DIAL_REFUSED)
    const report = A.reachability.report()
    expect(report.autonat).to.deep.include({ enabled: true, served: 1 })
    expect(report.autonat.refused).to.deep.equal({})
  })

  it('a stranger\'s dial request is refused before libp2p\'s server sees it: "na" (UnsupportedProtocolError), nothing served, nothing dialled', async () => {
    const A = await member('autonat-a')
    const s = await stranger()
    const outboundBefore = A.libp2p.getConnections().filter(c => c.direction === 'outbound').length
    const conn = await s.dial(multiaddr(quicAddr(A)), { signal: AbortSignal.timeout(10_000) })
    // Mesh auth answers any stream but its own with "na" until the connection authenticates
    // (protocols/auth/first-exchange.ts); a stranger never does.
    const err = await conn.newStream(AUTONAT_DIAL_REQUEST, { signal: AbortSignal.timeout(10_000) }).then(() => undefined, (e: Error) => e)
    expect(err?.name).to.equal('UnsupportedProtocolError')
    const report = A.reachability.report()
    expect(report.autonat.served, 'libp2p\'s server never ran').to.equal(0)
    expect(A.libp2p.getConnections().filter(c => c.direction === 'outbound').length, 'no dial back').to.equal(outboundBefore)
    expect(A.peers.rows().map(r => r.peer_id)).to.not.include(s.peerId.toString())
  })
})

describe('AutoNAT v2 auth gate (one class, stub components)', () => {
  /** Builds the service on stub components and returns the handlers it registered. */
  async function registered (auth: { waitForAuthentication(): Promise<any> }): Promise<{ handlers: Map<string, (stream: any, connection: any) => Promise<void>>, ledger: AutonatLedger, stop(): Promise<void> }> {
    const handlers = new Map<string, any>()
    const registrar = {
      handle: async (protocol: string, handler: any) => { handlers.set(protocol, handler) },
      unhandle: async (protocol: string) => { handlers.delete(protocol) },
      register: async () => 'topology-1',
      unregister: () => {}
    }
    const ledger = new AutonatLedger()
    const service = memberAutonat(AUTONAT_DEFAULTS, ledger)({ registrar, auth, logger: defaultLogger(), addressManager: {}, connectionManager: {}, randomWalk: {}, peerStore: {} } as any) as any
    await service.start()
    return { handlers, ledger, stop: async () => { await service.stop() } }
  }

  function fakeStream (): { aborted?: Error, abort(err: Error): void, remoteWriteStatus: string } {
    const s: any = { remoteWriteStatus: 'writable', abort: (err: Error) => { s.aborted = err } }
    return s
  }

  it('a stream whose connection is not (or no longer) authenticated is aborted with NOT_AUTHENTICATED and counted; libp2p\'s handler never runs', async () => {
    const refusal = new AuthError('NOT_AUTHENTICATED', 'the session has expired')
    const { handlers, ledger, stop } = await registered({ waitForAuthentication: async () => { throw refusal } })
    try {
      for (const protocol of [AUTONAT_DIAL_REQUEST, AUTONAT_DIAL_BACK]) {
        const stream = fakeStream()
        await handlers.get(protocol)?.(stream, { remotePeer: 'x' })
        expect(stream.aborted, protocol).to.equal(refusal)
      }
      expect(ledger.counts()).to.deep.equal({ served: 0, refused: { NOT_AUTHENTICATED: 2 } })
    } finally {
      await stop()
    }
  })

  it('refusal codes are bounded: past 32 distinct codes they add to OTHER', () => {
    const ledger = new AutonatLedger()
    for (let i = 0; i < 40; i++) { ledger.refuse(`CODE_${i}`) }
    const refused = ledger.counts().refused
    expect(Object.keys(refused)).to.have.lengthOf(33)
    expect(refused.OTHER).to.equal(8)
  })
})
