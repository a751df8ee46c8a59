import { once } from 'node:events'
import { createServer } from 'node:tls'
import { expect } from 'aegir/chai'
import { nodeApiGet, nodeApiPost } from '../../../src/daemon/api/client.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { issueSessionCredential } from '../../../src/pki/session-cert.ts'
import { NOW, createTestCa, enroll } from '../../node/fixtures.ts'
import { adminCredential } from './fixtures.ts'
import type { NodeApiClientOptions } from '../../../src/daemon/api/client.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'

/** A TLS server on the API port that counts the application bytes each connection sends it. */
interface Listener {
  url: string
  /** Connections accepted (TCP). */
  connections: number
  /** Application bytes received after the handshake, over all connections. */
  bytes: number
  /** Resolves once every accepted connection has closed. */
  allClosed(): Promise<void>
  close(): Promise<void>
}

/**
 * Listens with `cred` (a chain and key, PEM). It asks for the client certificate as the real API
 * does, and answers anything that looks like a whole HTTP request with 200 and `[]`, so a client
 * that sent before checking would get an answer and carry on.
 */
async function listener (cred: { certPem: string, keyPem: string }): Promise<Listener> {
  const closes: Array<Promise<unknown>> = []
  const state = { connections: 0, bytes: 0 }
  const server = createServer({ cert: cred.certPem, key: cred.keyPem, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false }, (socket: TLSSocket) => {
    let text = ''
    socket.on('data', (c: Buffer) => {
      state.bytes += c.length
      text += c.toString('latin1')
      if (text.includes('\r\n\r\n')) { socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]') }
    })
    socket.on('error', () => {})
  })
  server.on('connection', (raw: Socket) => {
    state.connections++
    closes.push(once(raw, 'close'))
  })
  server.on('tlsClientError', () => {})
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  return {
    url: `https://127.0.0.1:${port}`,
    get connections () { return state.connections },
    get bytes () { return state.bytes },
    allClosed: async () => {
      await Promise.race([
        Promise.all(closes),
        new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('impostor connections still open after 5 s')) }, 5_000).unref())
      ])
    },
    close: async () => {
      server.close()
      await once(server, 'close')
    }
  }
}

/** The session credential a node's API server presents (its identity key signs it). */
async function sessionOf (node: Enrolled): Promise<{ certPem: string, keyPem: string }> {
  return issueSessionCredential({ signer: node.identity.signer(), nodeChain: node.chain, now: new Date(NOW), validityMs: 3600_000 })
}

/**
 * The client of the node admin API judges the server's certificate when the handshake completes
 * and writes nothing before: a process that took the API port (the node is down, or the port was
 * grabbed first) learns neither the path nor the body nor the bundle or gossip it carried.
 */
describe('node API client: an impostor on the API port receives no request byte', function () {
  let tca: TestCa
  let other: TestCa
  let self: Enrolled
  let client: Omit<NodeApiClientOptions, 'url'>

  before(async () => {
    tca = await createTestCa('impostor-mesh')
    other = await createTestCa('impostor-other')
    self = await enroll(tca, 'self-node')
    const roots = [parseCertificate(tca.root)]
    client = {
      credential: await sessionOf(self),
      expectedPeerId: self.peerId.toString(),
      expectedNodeId: 'self-node',
      roots,
      intermediates: self.chain.slice(1).map(parseCertificate).filter(c => c.fingerprint !== roots[0].fingerprint),
      now: () => new Date(NOW),
      timeoutMs: 10_000
    }
  })

  after(async () => {
    await tca?.close()
    await other?.close()
  })

  /** Runs a GET and a POST against an impostor with `cred`; both must fail and send nothing. */
  async function expectNothingSent (cred: { certPem: string, keyPem: string }): Promise<void> {
    const imp = await listener(cred)
    try {
      const get = await nodeApiGet('/v1/mesh/peers', { ...client, url: imp.url }).catch(e => e)
      expect(get).to.include({ name: 'NodeApiClientError', code: 'SERVER_NOT_TRUSTED' })
      const post = await nodeApiPost('/v1/bundles', { destination: 'far', ttl_sec: 60, payload: Buffer.from('secret payload').toString('base64') }, { ...client, url: imp.url }).catch(e => e)
      expect(post).to.include({ name: 'NodeApiClientError', code: 'SERVER_NOT_TRUSTED' })
      await imp.allClosed()
      // Both reached the impostor (so the refusal came after a handshake), and sent it nothing.
      expect(imp.connections).to.equal(2)
      expect(imp.bytes).to.equal(0)
    } finally {
      await imp.close()
    }
  }

  it('the genuine node\'s session certificate: the request arrives and is answered (the counter counts)', async () => {
    const real = await listener(await sessionOf(self))
    try {
      expect(await nodeApiGet('/v1/mesh/peers', { ...client, url: real.url })).to.deep.equal([])
      await real.allClosed()
      expect(real.bytes).to.be.greaterThan(0)
    } finally {
      await real.close()
    }
  })

  it('a server whose certificate comes from another CA, even with our node_id and PeerId: SERVER_NOT_TRUSTED, zero bytes sent', async () => {
    await expectNothingSent(await sessionOf(await enroll(other, 'self-node', { hostKey: self.hostKey })))
  })

  it('a server with a valid mesh certificate of another node: SERVER_NOT_TRUSTED, zero bytes sent', async () => {
    await expectNothingSent(await sessionOf(await enroll(tca, 'other-node')))
  })

  it('a server with a valid mesh certificate binding our PeerId under another node_id: SERVER_NOT_TRUSTED, zero bytes sent', async () => {
    await expectNothingSent(await sessionOf(await enroll(tca, 'squatter-node', { hostKey: self.hostKey })))
  })

  it('a server presenting a mesh admin certificate (no node session): SERVER_NOT_TRUSTED, zero bytes sent', async () => {
    await expectNothingSent(await adminCredential(tca, 'impostor-ops'))
  })
})
