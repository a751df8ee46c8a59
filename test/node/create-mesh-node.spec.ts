import { expect } from 'aegir/chai'
import { createMeshNode } from '../../src/node/index.ts'
import { createTestCa, enroll, eventually, loopbackOptions, now, signerOf, startNode, verifierFor, waitForEvent } from './fixtures.ts'
import type { Enrolled, TestCa } from './fixtures.ts'
import type { AuthenticatedPeer } from '../../protocols/auth/index.ts'
import type { MeshNode } from '../../src/node/index.ts'

const ECHO = '/test/echo/1.0.0'

/** Every node dials every later one, then waits until each sees all others authenticated. */
async function fullMesh (nodes: MeshNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      await nodes[i].dial(nodes[j].getMultiaddrs()[0])
    }
  }
  await eventually(() => nodes.every(n => nodes.every(m => m === n || n.isAuthenticated(m.peerId))))
}

async function echo (from: MeshNode, to: MeshNode, text: string): Promise<string> {
  const stream = await from.openStream(to.peerId, ECHO)
  // Read from the start: libp2p 3's async iterator misses a remote close that came before it began.
  const reading = (async () => {
    let out = ''
    for await (const chunk of stream) { out += new TextDecoder().decode(chunk.subarray()) }
    return out
  })()
  stream.send(new TextEncoder().encode(text))
  await stream.close()
  return reading
}

async function serveEcho (node: MeshNode): Promise<void> {
  await node.handle(ECHO, async (stream) => {
    for await (const chunk of stream) { stream.send(chunk) }
    await stream.close()
  })
}

describe('createMeshNode', function () {
  let tca: TestCa
  const enrolled: Enrolled[] = []
  const nodes: MeshNode[] = []

  before(async () => {
    tca = await createTestCa('mesh')
    for (const id of ['node-a', 'node-b', 'node-c']) { enrolled.push(await enroll(tca, id)) }
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  })

  after(async () => {
    await tca.close()
  })

  async function start (i: number, transport: 'quic' | 'tcp' = 'quic'): Promise<MeshNode> {
    const node = await startNode(`n${i}`, enrolled[i], tca, loopbackOptions(transport))
    nodes.push(node)
    await serveEcho(node)
    return node
  }

  describe('over real QUIC on loopback', () => {
    it('two nodes authenticate each other, and only then identify', async () => {
      const [a, b] = [await start(0), await start(1)]
      const onB = waitForEvent<AuthenticatedPeer>(b, 'peer:authenticated')
      const peer = await a.dial(b.getMultiaddrs()[0])
      expect(peer).to.include({ nodeId: 'node-b', peerId: enrolled[1].peerId.toString(), transport: 'quic', serialHex: enrolled[1].serialHex })
      expect(peer.elapsedMs).to.be.below(1_000)
      expect((await onB).nodeId).to.equal('node-a')
      expect(a.isAuthenticated(b.peerId)).to.equal(true)
      expect(b.isAuthenticated(a.peerId)).to.equal(true)
      const row = a.peers.rows().find(r => r.peer_id === b.peerId.toString())
      expect(row).to.include({ node_id: 'node-b', status: 'authenticated', transport: 'quic', cert_serial: enrolled[1].serialHex })
      // identify runs after auth: b's protocols reach a's peer store
      let protocols: string[] = []
      for (let i = 0; i < 100 && !protocols.includes(ECHO); i++) {
        await new Promise(resolve => setTimeout(resolve, 20))
        protocols = (await a.libp2p.peerStore.get(b.peerId).catch(() => ({ protocols: [] }))).protocols
      }
      expect(protocols).to.include(ECHO)
      expect(protocols).to.include('/dadm-mesh/kad/1.0.0')
    })

    it('three nodes all authenticate each other', async () => {
      const three = [await start(0), await start(1), await start(2)]
      await fullMesh(three)
      for (const node of three) {
        const rows = node.peers.rows()
        expect(rows).to.have.lengthOf(2)
        expect(rows.every(r => r.status === 'authenticated' && r.transport === 'quic')).to.equal(true)
      }
    })

    it('carries an application protocol between authenticated nodes', async () => {
      const [a, b] = [await start(0), await start(1)]
      await a.dial(b.getMultiaddrs()[0])
      expect(await echo(a, b, 'hello mesh')).to.equal('hello mesh')
    })

    it('puts authenticated peers, and only those, into the DHT routing table', async () => {
      const three = [await start(0), await start(1), await start(2)]
      await fullMesh(three)
      const table = (node: MeshNode): number => (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
      await eventually(() => three.every(n => table(n) === 2))
    })
  })

  describe('over TCP + TLS 1.3 + yamux with QUIC disabled', () => {
    it('three nodes all authenticate each other', async () => {
      const three = [await start(0, 'tcp'), await start(1, 'tcp'), await start(2, 'tcp')]
      expect(three[0].getMultiaddrs()[0].toString()).to.include('/tcp/')
      await fullMesh(three)
      const connection = three[0].libp2p.getConnections(three[1].peerId)[0]
      expect(connection.encryption).to.equal('/tls/1.0.0')
      expect(connection.multiplexer).to.equal('/yamux/1.0.0')
      expect(three[0].peers.get(three[1].peerId.toString())?.transport).to.equal('tcp')
      expect(await echo(three[2], three[0], 'over tcp')).to.equal('over tcp')
    })
  })

  describe('applyRevocation', () => {
    it('closes live connections to a revoked peer at once, blocks redials both ways, and forgets it', async () => {
      const [a, b, c] = [await start(0), await start(1), await start(2)]
      await fullMesh([a, b, c])
      const bId = b.peerId
      const revokedEvent = waitForEvent<{ peerId: string }>(a, 'peer:revoked')
      // 1. a's CRL now lists b's serial
      const t0 = performance.now()
      const report = await a.applyRevocation((peer) => peer.serialHex === enrolled[1].serialHex, { source: 'crl:test' })
      const elapsed = performance.now() - t0
      expect(report.revoked.map(r => r.nodeId)).to.deep.equal(['node-b'])
      expect(report.closedConnections).to.be.at.least(1)
      expect((await revokedEvent).peerId).to.equal(bId.toString())
      expect(elapsed).to.be.below(500)
      // 2. the connection is gone, the peer table forgot b, c is untouched
      expect(a.libp2p.getConnections(bId)).to.have.lengthOf(0)
      expect(a.peers.has(bId.toString())).to.equal(false)
      expect(a.isAuthenticated(c.peerId)).to.equal(true)
      expect(a.blockList.get(bId.toString())?.until).to.equal(Infinity)
      // 3. no redial from a, and b's redial never becomes a connection on a
      await expect(a.dial(bId)).to.eventually.be.rejected()
      let opened = 0
      a.libp2p.addEventListener('connection:open', (evt) => { if (evt.detail.remotePeer.equals(bId)) { opened++ } })
      await b.libp2p.dial(a.getMultiaddrs()[0], { signal: AbortSignal.timeout(2_000) }).then(async conn => { await conn.close() }, () => {})
      await new Promise(resolve => setTimeout(resolve, 100))
      expect(opened).to.equal(0)
    })

    it('refuses a new handshake from a peer revoked by the predicate alone (REVOKED)', async () => {
      const [a, b] = [await start(0), await start(1)]
      await a.applyRevocation((peer) => peer.nodeId === 'node-b')
      a.blockList.unblock(b.peerId.toString())
      const failed = waitForEvent<{ code: string }>(a, 'peer:auth-failed')
      await b.dial(a.getMultiaddrs()[0]).catch(() => {})
      expect((await failed).code).to.equal('REVOKED')
      expect(a.isAuthenticated(b.peerId)).to.equal(false)
    })
  })

  describe('lifecycle and configuration', () => {
    it('stops cleanly and can start again', async () => {
      const [a, b] = [await start(0), await start(1)]
      await a.dial(b.getMultiaddrs()[0])
      const [old] = a.libp2p.getConnections(b.peerId)
      await b.stop()
      await eventually(() => a.libp2p.getConnections().length === 0)
      expect(a.peers.get(b.peerId.toString())?.status).to.equal('disconnected')
      expect(a.auth.authenticatedConnections()).to.deep.equal([])
      expect(await a.auth.waitForAuthentication(old).catch(e => e)).to.include({ name: 'AuthError', code: 'NOT_AUTHENTICATED' })
      await b.start()
      await a.dial(b.getMultiaddrs()[0])
      expect(a.peers.get(b.peerId.toString())?.status).to.equal('authenticated')
    })

    it('refuses to start with an identity signer that is not the key of its certificate', async () => {
      const other = enrolled[1]
      const err = await createMeshNode({
        privateKey: enrolled[0].hostKey,
        credentials: { chain: enrolled[0].chain, signer: signerOf(other.identity) },
        verifier: verifierFor(tca),
        options: loopbackOptions(),
        now,
        start: false
      }).catch(e => e)
      expect(err).to.have.property('name', 'MeshNodeError')
      expect(err).to.have.property('code', 'CREDENTIALS_MISMATCH')
    })

    it('refuses to start without a stable host key', async () => {
      const err = await createMeshNode({ credentials: enrolled[0].credentials, verifier: verifierFor(tca), options: loopbackOptions(), start: false }).catch(e => e)
      expect(err).to.have.property('code', 'CONFIG_INVALID')
    })
  })
})
