import { connect } from 'node:tls'
import { FormatRegistry, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { expect } from 'aegir/chai'
import { createCsr } from '../../../src/ca/csr-builder.ts'
import { nodeApiGet, NodeApiClientError } from '../../../src/daemon/api/client.ts'
import { PeerRow } from '../../../src/daemon/api/routes/peers.ts'
import { createNodeApiServer } from '../../../src/daemon/api/server.ts'
import { PeerTable } from '../../../src/node/peer-table.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { parseCrl } from '../../../src/pki/crl.ts'
import { rolesOf } from '../../../src/pki/roles-extension.ts'
import { issueSessionCredential } from '../../../src/pki/session-cert.ts'
import { pemToDerAll } from '../../../src/util/pem.ts'
import { NOW, createTestCa, enroll, now } from '../../node/fixtures.ts'
import { adminCredential, impostor, rawGet } from './fixtures.ts'
import type { NodeApiServer } from '../../../src/daemon/api/server.ts'
import type { Crl } from '../../../src/pki/crl.ts'
import type { SessionCredential } from '../../../src/pki/session-cert.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

/**
 * The node admin API over real HTTPS: mutual TLS judged by our validator (this node's own
 * certificate, through an API session certificate, or an operator's admin certificate; nothing
 * else), catalogue error bodies, and the peer table's JSON shape.
 */
describe('node admin API (mutual TLS)', function () {
  let tca: TestCa
  let other: TestCa
  let self: Enrolled
  let api: NodeApiServer
  let url: string
  let selfSession: SessionCredential
  const crls: Crl[] = []
  const peers = new PeerTable(100, now)

  before(async () => {
    tca = await createTestCa('api')
    other = await createTestCa('api-other')
    self = await enroll(tca, 'self-node')
    const roots = [parseCertificate(tca.root)]
    const intermediates = self.chain.slice(1).map(parseCertificate).filter(c => c.fingerprint !== roots[0].fingerprint)
    // One known peer, as the auth protocol reports it.
    const peer = await enroll(tca, 'peer-1', { roles: ['gateway'] })
    const leaf = parseCertificate(peer.chain[0])
    peers.authenticated({
      nodeId: 'peer-1',
      peerId: peer.peerId.toString(),
      serialHex: leaf.serialHex,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      spki: leaf.spki,
      fingerprint: leaf.fingerprint,
      issuerFingerprint: intermediates[0].fingerprint,
      roles: rolesOf(leaf),
      connectionId: 'c1',
      direction: 'outbound',
      remoteAddr: '/ip4/127.0.0.1/udp/1/quic-v1',
      transport: 'quic',
      authenticatedAt: NOW,
      elapsedMs: 3
    })
    const tls = await issueSessionCredential({ signer: self.identity.signer(), nodeChain: self.chain, now: new Date(NOW), validityMs: 3600_000 })
    api = await createNodeApiServer({
      tls,
      clientCaPem: tca.ca.rootPem,
      trust: { nodeId: 'self-node', self: () => ({ peerId: self.peerId.toString(), keys: [self.identity.publicKeySpki] }), roots: () => roots, intermediates: () => intermediates, crls: () => crls },
      source: {
        peers: () => peers.rows(),
        info: () => ({ node_id: 'self-node', peer_id: self.peerId.toString(), multiaddrs: [], cert_serial: self.serialHex, cert_not_after: new Date(NOW).toISOString(), crl_number: null, started_at: new Date(NOW).toISOString() })
      },
      now: () => new Date(NOW)
    })
    url = (await api.listen({ host: '127.0.0.1', port: 0 })).url
    selfSession = await issueSessionCredential({ signer: self.identity.signer(), nodeChain: self.chain, now: new Date(NOW), validityMs: 300_000 })
  })

  after(async () => {
    await api?.close()
    await tca?.close()
    await other?.close()
  })

  /** A node certificate (chain, DER) for `key` naming `nodeId` and `peerId`, from the test CA. */
  async function issueNodeCert (key: Enrolled['identity'], nodeId: string, peerId: string): Promise<Uint8Array[]> {
    const issued = await tca.ca.issue({ csr: await createCsr(key, { nodeId, peerId }), now: new Date(NOW - 3600_000), nodeId })
    return [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')]
  }

  const clientOpts = (credential: { certPem: string, keyPem: string }, expectedPeerId = self.peerId.toString()): Parameters<typeof nodeApiGet>[1] => ({
    url,
    credential,
    expectedPeerId,
    roots: [parseCertificate(tca.root)],
    now: () => new Date(NOW)
  })

  it('the node itself (API session certificate signed by its identity key) gets the peer table in the documented shape', async () => {
    const rows = await nodeApiGet('/v1/mesh/peers', clientOpts(selfSession)) as any[]
    // typebox's Value checker knows no formats until told; fastify's ajv checks date-time itself.
    if (!FormatRegistry.Has('date-time')) { FormatRegistry.Set('date-time', v => /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v))) }
    expect([...Value.Errors(Type.Array(PeerRow), rows)].map(e => `${e.path}: ${e.message}`)).to.deep.equal([])
    expect(rows).to.have.length(1)
    expect(rows[0]).to.include({ node_id: 'peer-1', status: 'authenticated', transport: 'quic' })
    expect(rows[0].roles).to.deep.equal(['gateway'])
    for (const key of ['node_id', 'peer_id', 'status', 'transport', 'last_seen', 'cert_serial', 'cert_not_after']) { expect(rows[0]).to.have.property(key) }
    expect(Date.parse(rows[0].cert_not_after)).to.be.greaterThan(NOW)
    const info = await nodeApiGet('/v1/node', clientOpts(selfSession)) as any
    expect(info).to.include({ node_id: 'self-node', peer_id: self.peerId.toString(), crl_number: null })
  })

  it('an operator with an admin certificate from the mesh CA is admitted', async () => {
    const admin = await adminCredential(tca)
    const rows = await nodeApiGet('/v1/mesh/peers', clientOpts(admin)) as any[]
    expect(rows.map(r => r.node_id)).to.deep.equal(['peer-1'])
  })

  it('no client certificate: 401 CLIENT_CERT_REQUIRED, on known and unknown routes alike', async () => {
    for (const path of ['/v1/mesh/peers', '/v1/nothing-here']) {
      const r = await rawGet(url, path)
      expect(r.status).to.equal(401)
      expect(r.json).to.deep.equal({ error: { code: 'CLIENT_CERT_REQUIRED', message: r.json.error.message } })
    }
  })

  it('a certificate from another CA: 401 CLIENT_CERT_INVALID', async () => {
    const foreign = await enroll(other, 'self-node')
    const session = await issueSessionCredential({ signer: foreign.identity.signer(), nodeChain: foreign.chain, now: new Date(NOW), validityMs: 300_000 })
    const r = await rawGet(url, '/v1/mesh/peers', session)
    expect(r.status).to.equal(401)
    expect(r.json.error.code).to.equal('CLIENT_CERT_INVALID')
    const foreignAdmin = await adminCredential(other)
    expect((await rawGet(url, '/v1/mesh/peers', foreignAdmin)).json.error.code).to.equal('CLIENT_CERT_INVALID')
  })

  it('another valid node of the same mesh: 401 CLIENT_CERT_WRONG_ROLE (the API serves only itself and operators)', async () => {
    const node2 = await enroll(tca, 'node-2')
    const session = await issueSessionCredential({ signer: node2.identity.signer(), nodeChain: node2.chain, now: new Date(NOW), validityMs: 300_000 })
    const err = await nodeApiGet('/v1/mesh/peers', clientOpts(session)).catch(e => e)
    expect(err).to.be.instanceOf(NodeApiClientError)
    expect(err).to.include({ name: 'NodeApiClientError', code: 'REFUSED', serverCode: 'CLIENT_CERT_WRONG_ROLE', status: 401 })
  })

  it('a second certificate for this node\'s own node_id (a squatter: another key and PeerId): 401 CLIENT_CERT_WRONG_ROLE, directly and through a session certificate', async () => {
    // Issued by the operator's own CA, as a squatter would have got one before the CA refused a live node_id.
    const squatter = await enroll(tca, 'self-node')
    const session = await issueSessionCredential({ signer: squatter.identity.signer(), nodeChain: squatter.chain, now: new Date(NOW), validityMs: 300_000 })
    const err = await nodeApiGet('/v1/mesh/peers', clientOpts(session)).catch(e => e)
    expect(err).to.include({ name: 'NodeApiClientError', code: 'REFUSED', serverCode: 'CLIENT_CERT_WRONG_ROLE', status: 401 })
    const r = await rawGet(url, '/v1/node', session)
    expect(r.status).to.equal(401)
    expect(r.json.error.code).to.equal('CLIENT_CERT_WRONG_ROLE')
  })

  it('this node\'s node_id and key under another PeerId, and its PeerId with another key: 401 CLIENT_CERT_WRONG_ROLE', async () => {
    // Same identity key, a foreign host key: the certificate names another PeerId.
    const otherPeer = await issueNodeCert(self.identity, 'self-node', (await enroll(tca, 'spare-1')).peerId.toString())
    const s1 = await issueSessionCredential({ signer: self.identity.signer(), nodeChain: otherPeer, now: new Date(NOW), validityMs: 300_000 })
    expect((await rawGet(url, '/v1/node', s1)).json.error.code).to.equal('CLIENT_CERT_WRONG_ROLE')
    // Our PeerId, another identity key.
    const stranger = await enroll(tca, 'spare-2', { hostKey: self.hostKey })
    const otherKey = await issueNodeCert(stranger.identity, 'self-node', self.peerId.toString())
    const s2 = await issueSessionCredential({ signer: stranger.identity.signer(), nodeChain: otherKey, now: new Date(NOW), validityMs: 300_000 })
    expect((await rawGet(url, '/v1/node', s2)).json.error.code).to.equal('CLIENT_CERT_WRONG_ROLE')
    // The control: our own certificate is admitted.
    expect((await rawGet(url, '/v1/node', selfSession)).status).to.equal(200)
  })

  it('a forged session certificate (our node certificate, another key signed it) and an expired one: 401 CLIENT_CERT_INVALID', async () => {
    const thief = await enroll(tca, 'thief')
    const forged = await issueSessionCredential({ signer: thief.identity.signer(), nodeChain: self.chain, now: new Date(NOW), validityMs: 300_000 })
    expect((await rawGet(url, '/v1/mesh/peers', forged)).json.error.code).to.equal('CLIENT_CERT_INVALID')
    const stale = await issueSessionCredential({ signer: self.identity.signer(), nodeChain: self.chain, now: new Date(NOW - 3600_000), validityMs: 300_000 })
    expect((await rawGet(url, '/v1/mesh/peers', stale)).json.error.code).to.equal('CLIENT_CERT_INVALID')
  })

  it('an admin certificate on the node\'s current CRL: 401 CLIENT_CERT_INVALID', async () => {
    const admin = await adminCredential(tca, 'leaver')
    expect((await rawGet(url, '/v1/mesh/peers', admin)).status).to.equal(200)
    await tca.ca.revoke({ serialHex: admin.serialHex, now: new Date(NOW - 60_000) })
    crls.push(parseCrl((await tca.ca.buildCrl(new Date(NOW - 30_000))).der))
    try {
      expect((await rawGet(url, '/v1/mesh/peers', admin)).json.error.code).to.equal('CLIENT_CERT_INVALID')
    } finally {
      crls.length = 0
    }
  })

  it('an unknown route with a good certificate is a catalogue 404', async () => {
    const r = await rawGet(url, '/v1/nothing-here', selfSession)
    expect(r.status).to.equal(404)
    expect(r.json.error.code).to.equal('NOT_FOUND')
  })

  it('HTTP the parser cannot read gets a catalogue 400 body, not fastify\'s own', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(url).port), rejectUnauthorized: false, cert: selfSession.certPem, key: selfSession.keyPem }, () => {
        socket.write('NOT HTTP AT ALL\r\n\r\n')
      })
      let out = ''
      socket.on('data', (c: Buffer) => { out += c.toString() })
      socket.on('end', () => { resolve(out) })
      socket.on('error', reject)
      socket.setTimeout(5_000, () => { socket.destroy(); reject(new Error('no answer')) })
    })
    expect(text).to.match(/^HTTP\/1\.1 400 /)
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).to.equal('INVALID_REQUEST')
  })

  it('the client refuses a server that is not the expected node: another PeerId, or a non-mesh certificate', async () => {
    const wrongPeer = await nodeApiGet('/v1/mesh/peers', clientOpts(selfSession, (await enroll(tca, 'someone')).peerId.toString())).catch(e => e)
    expect(wrongPeer).to.include({ name: 'NodeApiClientError', code: 'SERVER_NOT_TRUSTED' })
    // An impostor holding a plain admin certificate (valid mesh certificate, but no node session).
    const fake = await impostor(await adminCredential(tca, 'impostor'), [])
    try {
      const err = await nodeApiGet('/v1/mesh/peers', { ...clientOpts(selfSession), url: fake.url }).catch(e => e)
      expect(err).to.include({ name: 'NodeApiClientError', code: 'SERVER_NOT_TRUSTED' })
    } finally {
      await fake.close()
    }
  })
})
