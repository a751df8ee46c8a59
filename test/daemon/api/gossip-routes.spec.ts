import { expect } from 'aegir/chai'
import { AnomalyRefusedError, EnvelopeError } from '../../../protocols/anomaly-gossip/errors.ts'
import { NodeApiClientError, nodeApiGet, nodeApiPost } from '../../../src/daemon/api/client.ts'
import { createNodeApiServer } from '../../../src/daemon/api/server.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { issueSessionCredential } from '../../../src/pki/session-cert.ts'
import { NOW, createTestCa, enroll } from '../../node/fixtures.ts'
import type { GossipApiSource, GossipPublishRequest } from '../../../src/daemon/api/routes/gossip.ts'
import type { NodeApiServer } from '../../../src/daemon/api/server.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

/**
 * `POST /v1/mesh/gossip` and `GET /v1/mesh/gossip` on the node admin API, over real HTTPS with
 * the node's own session certificate, against a recording source: 202 with the message id, the
 * list, schema refusals (400), payloads the envelope codec refuses (400), and 409 without gossip.
 */
describe('node admin API: /v1/mesh/gossip', function () {
  let tca: TestCa
  let self: Enrolled
  const servers: NodeApiServer[] = []
  const published: GossipPublishRequest[] = []
  const submitted: Uint8Array[] = []

  const source: GossipApiSource = {
    async publish (req) {
      if (req.value === 'refused-by-codec') { throw new EnvelopeError('BAD_PAYLOAD', 'no') }
      published.push(req)
      return { message_id: 'self-node:00000000-0000-4000-8000-000000000001', origin: 'self-node', timestamp: new Date(NOW).toISOString(), expiry: new Date(NOW + (req.ttl_sec ?? 3600) * 1000).toISOString(), recipients: 3 }
    },
    async list (q) {
      return [{ message_id: 'o:1', origin: q.origin ?? 'o', origin_peer_id: 'p', timestamp: new Date(NOW).toISOString(), expiry: new Date(NOW + 1000).toISOString(), payload: { type: 'rule', value: 'r-1' }, received_at: new Date(NOW).toISOString(), source: 'gossip', relay: 'x' }]
    },
    async submit (envelope) {
      submitted.push(envelope)
      if (envelope[0] === 0xff) { throw new AnomalyRefusedError('BAD_ORIGIN_SIGNATURE') }
      return { message_id: 'other-node:00000000-0000-4000-8000-000000000002', origin: 'other-node', timestamp: new Date(NOW).toISOString(), expiry: new Date(NOW + 3600_000).toISOString(), recipients: 2 }
    },
    async verify (id) {
      if (id !== 'other-node:2') { return undefined }
      const at = new Date(NOW).toISOString()
      return { message_id: id, valid: false, code: 'ORIGIN_REVOKED', origin: 'other-node', timestamp: at, expiry: at, expired: false, checked_at: at }
    },
    equivocations () {
      const at = new Date(NOW).toISOString()
      return {
        conflicts: 3,
        origins: [{ node_id: 'node-e', peer_id: 'pe', conflicts: 3, suppressed: 1, first_at: at, last_at: at }],
        recent: [{ node_id: 'node-e', peer_id: 'pe', message_id: 'node-e:1', held_digest: 'h', conflicting_digest: 'c', relay: 'r', at }]
      }
    }
  }

  before(async () => {
    tca = await createTestCa('api-gossip')
    self = await enroll(tca, 'self-node')
  })

  after(async () => {
    for (const s of servers) { await s.close() }
    await tca?.close()
  })

  async function serve (gossip?: GossipApiSource): Promise<Parameters<typeof nodeApiGet>[1]> {
    const roots = [parseCertificate(tca.root)]
    const intermediates = self.chain.slice(1).map(parseCertificate).filter(c => c.fingerprint !== roots[0].fingerprint)
    const tls = await issueSessionCredential({ signer: self.identity.signer(), nodeChain: self.chain, now: new Date(NOW), validityMs: 3600_000 })
    const api = await createNodeApiServer({
      tls,
      clientCaPem: tca.ca.rootPem,
      trust: { nodeId: 'self-node', self: () => ({ peerId: self.peerId.toString(), keys: [self.identity.publicKeySpki] }), roots: () => roots, intermediates: () => intermediates, crls: () => [] },
      source: { peers: () => [], info: () => ({ node_id: 'self-node', peer_id: self.peerId.toString(), multiaddrs: [], cert_serial: self.serialHex, cert_not_after: new Date(NOW).toISOString(), crl_number: null, started_at: new Date(NOW).toISOString() }), ...(gossip != null ? { gossip } : {}) },
      now: () => new Date(NOW)
    })
    servers.push(api)
    const { url } = await api.listen({ host: '127.0.0.1', port: 0 })
    const credential = await issueSessionCredential({ signer: self.identity.signer(), nodeChain: self.chain, now: new Date(NOW), validityMs: 300_000 })
    return { url, credential, expectedPeerId: self.peerId.toString(), roots, now: () => new Date(NOW) }
  }

  async function refusal (p: Promise<unknown>): Promise<{ status?: number, serverCode?: string }> {
    const err = await p.then(() => undefined, (e: unknown) => e)
    expect(err).to.be.instanceOf(NodeApiClientError)
    const e = err as NodeApiClientError
    return { ...(e.status != null ? { status: e.status } : {}), ...(e.serverCode != null ? { serverCode: e.serverCode } : {}) }
  }

  it('POST answers 202 with the message id; the body reaches the node as sent (numbers stay numbers)', async () => {
    const opts = await serve(source)
    const r = await nodeApiPost('/v1/mesh/gossip', { type: 'sha256', value: 'ab'.repeat(32), meta: { rule: 'r-1', score: 7, live: true }, ttl_sec: 120 }, opts) as any
    expect(r).to.deep.include({ message_id: 'self-node:00000000-0000-4000-8000-000000000001', recipients: 3 })
    expect(published.at(-1)).to.deep.equal({ type: 'sha256', value: 'ab'.repeat(32), meta: { rule: 'r-1', score: 7, live: true }, ttl_sec: 120 })
  })

  it('POST with an envelope hands the exact bytes to the node; a refusal answers with the validator\'s code', async () => {
    const opts = await serve(source)
    const bytes = Uint8Array.from([0xa9, 1, 2, 3, 4, 5])
    const r = await nodeApiPost('/v1/mesh/gossip', { envelope: Buffer.from(bytes).toString('base64') }, opts) as any
    expect(r).to.deep.include({ message_id: 'other-node:00000000-0000-4000-8000-000000000002', origin: 'other-node', recipients: 2 })
    expect(Buffer.from(submitted.at(-1) as Uint8Array).equals(Buffer.from(bytes))).to.equal(true)
    const bad = Buffer.from([0xff, 1, 2]).toString('base64')
    expect(await refusal(nodeApiPost('/v1/mesh/gossip', { envelope: bad }, opts))).to.deep.equal({ status: 422, serverCode: 'BAD_ORIGIN_SIGNATURE' })
    // Both forms at once, or not base64: outside the schema.
    for (const body of [{ envelope: bad, type: 'sha256', value: 'v' }, { envelope: 'not base64!' }]) {
      expect(await refusal(nodeApiPost('/v1/mesh/gossip', body, opts)), JSON.stringify(body)).to.deep.equal({ status: 400, serverCode: 'INVALID_REQUEST' })
    }
  })

  it('GET /v1/mesh/gossip/:message_id/verify answers the re-check, 404 for an id the node does not hold', async () => {
    const opts = await serve(source)
    const v = await nodeApiGet(`/v1/mesh/gossip/${encodeURIComponent('other-node:2')}/verify`, opts) as any
    expect(v).to.deep.include({ message_id: 'other-node:2', valid: false, code: 'ORIGIN_REVOKED' })
    expect(await refusal(nodeApiGet('/v1/mesh/gossip/other-node%3A3/verify', opts))).to.deep.equal({ status: 404, serverCode: 'MESSAGE_NOT_FOUND' })
  })

  it('GET lists what the node holds, with its filters', async () => {
    const rows = await nodeApiGet('/v1/mesh/gossip?limit=5&origin=node-a', await serve(source)) as any[]
    expect(rows).to.have.length(1)
    expect(rows[0]).to.deep.include({ message_id: 'o:1', origin: 'node-a', source: 'gossip' })
  })

  it('refuses bodies outside the schema and payloads the envelope codec refuses: 400 INVALID_REQUEST', async () => {
    const opts = await serve(source)
    for (const body of [{ type: 'sha256' }, { type: 'sha256', value: 'v', ttl_sec: 0 }, { type: 'sha256', value: 'v', ttl_sec: 90_000 }, { type: 'sha256', value: 'refused-by-codec' }]) {
      expect(await refusal(nodeApiPost('/v1/mesh/gossip', body, opts)), JSON.stringify(body)).to.deep.equal({ status: 400, serverCode: 'INVALID_REQUEST' })
    }
  })

  it('GET /v1/mesh/gossip/equivocations shows the equivocating origins and the recent reports', async () => {
    const body = await nodeApiGet('/v1/mesh/gossip/equivocations', await serve(source)) as any
    expect(body.conflicts).to.equal(3)
    expect(body.origins).to.deep.equal([{ node_id: 'node-e', peer_id: 'pe', conflicts: 3, suppressed: 1, first_at: new Date(NOW).toISOString(), last_at: new Date(NOW).toISOString() }])
    expect(body.recent[0]).to.deep.include({ node_id: 'node-e', message_id: 'node-e:1', held_digest: 'h', conflicting_digest: 'c' })
    expect(await refusal(nodeApiGet('/v1/mesh/gossip/equivocations', await serve()))).to.deep.equal({ status: 409, serverCode: 'GOSSIP_DISABLED' })
  })

  it('a node without gossip answers 409 GOSSIP_DISABLED on both routes', async () => {
    const opts = await serve()
    expect(await refusal(nodeApiGet('/v1/mesh/gossip', opts))).to.deep.equal({ status: 409, serverCode: 'GOSSIP_DISABLED' })
    expect(await refusal(nodeApiPost('/v1/mesh/gossip', { type: 'sha256', value: 'v' }, opts))).to.deep.equal({ status: 409, serverCode: 'GOSSIP_DISABLED' })
  })
})
