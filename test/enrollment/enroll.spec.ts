import { expect } from 'aegir/chai'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { nodeIdentity } from '../../src/pki/node-identity.ts'
import { verifyChain } from '../../src/pki/verify-chain.ts'
import { hashToken } from '../../src/store/token-store.ts'
import { pemToDerAll } from '../../src/util/pem.ts'
import { call, certCount, nodeCsr, startService } from './harness.ts'
import type { Service } from './harness.ts'

/** Asserts an error reply: exact status, exact catalogue code, and nothing else in the body. */
function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).to.equal(status)
  expect(r.json).to.have.keys('error')
  expect(r.json.error).to.have.keys('code', 'message')
  expect(r.json.error.code).to.equal(code)
}

describe('enrollment service: POST /v1/enroll over HTTPS', () => {
  let svc: Service

  before(async () => {
    svc = await startService({ init: { config: { bootstrap_peers: ['/ip4/10.0.0.1/udp/4001/quic-v1/p2p/12D3KooWA'], gossip_fanout: 8 } } })
  })
  after(async () => { await svc.cleanup() })

  const token = async (opts: { nodeId?: string, ttlMs?: number, uses?: number } = {}): Promise<string> =>
    (await svc.service.createToken({ ttlMs: opts.ttlMs ?? 3600_000, uses: opts.uses ?? 1, ...(opts.nodeId != null ? { nodeId: opts.nodeId } : {}) }, svc.clock.now())).token

  it('enrolls: certificate, CA cert, chain and config from ca.json; the chain verifies', async () => {
    const csr = await nodeCsr('edge-1')
    const before = await certCount(svc)
    const r = await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: csr.csrPem, node_id: 'edge-1' })
    expect(r.status).to.equal(200)
    expect(r.headers['cache-control']).to.equal('no-store')
    expect(r.json.ca_cert).to.equal(svc.rootPem)
    expect(r.json.config).to.deep.equal({ bootstrap_peers: ['/ip4/10.0.0.1/udp/4001/quic-v1/p2p/12D3KooWA'], gossip_fanout: 8, crl_url: 'https://127.0.0.1/v1/crl' })
    const cert = parseCertificate(pemToDerAll(r.json.certificate, 'CERTIFICATE')[0])
    expect(nodeIdentity(cert)).to.deep.equal({ nodeId: 'edge-1', peerId: csr.peerId })
    expect(r.json.serial).to.equal(cert.serialHex)
    verifyChain(svc.clock.now(), cert, pemToDerAll(r.json.chain, 'CERTIFICATE'), pemToDerAll(svc.rootPem, 'CERTIFICATE'), [], {})
    expect(await certCount(svc)).to.equal(before + 1)
  })

  it('takes node_id from the CSR when the request has none', async () => {
    const csr = await nodeCsr('edge-no-field')
    const r = await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: csr.csrPem })
    expect(r.status).to.equal(200)
    expect(r.json.node_id).to.equal('edge-no-field')
  })

  it('accepts the CSR as base64 DER (seed §7.1)', async () => {
    const csr = await nodeCsr('edge-b64')
    const b64 = pemToDerAll(csr.csrPem, 'CERTIFICATE REQUEST')[0]
    const r = await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: Buffer.from(b64).toString('base64') })
    expect(r.status).to.equal(200)
  })

  it('stores the token only as its SHA-256', async () => {
    const t = await token()
    const keys = await svc.service.tokens.hashes()
    expect(keys).to.include(hashToken(t))
    expect(keys.join()).to.not.include(t.slice(5))
  })

  it('token replay: the second use is 401 TOKEN_REJECTED and nothing is issued', async () => {
    const t = await token()
    const first = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('replay-1')).csrPem })
    expect(first.status).to.equal(200)
    const before = await certCount(svc)
    const second = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('replay-2')).csrPem })
    expectError(second, 401, 'TOKEN_REJECTED')
    expect(await certCount(svc)).to.equal(before)
    expect(await svc.ca.certificatesOf('replay-2')).to.have.length(0)
  })

  it('an unknown token and a used token get byte-identical answers', async () => {
    const t = await token()
    expect((await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('probe-1')).csrPem })).status).to.equal(200)
    const csr = (await nodeCsr('probe-2')).csrPem
    const used = await call(svc, 'POST', '/v1/enroll', { token: t, csr })
    const unknown = await call(svc, 'POST', '/v1/enroll', { token: 'dmt1_' + 'A'.repeat(43), csr })
    expect(used.status).to.equal(401)
    expect(unknown.body.equals(used.body)).to.equal(true)
  })

  it('50 concurrent enrollments with one token: exactly one certificate is issued', async () => {
    const t = await token()
    const csrs = await Promise.all(Array.from({ length: 50 }, async (_, i) => nodeCsr(`race-${i}`)))
    const before = await certCount(svc)
    const replies = await Promise.all(csrs.map(async c => call(svc, 'POST', '/v1/enroll', { token: t, csr: c.csrPem })))
    const ok = replies.filter(r => r.status === 200)
    expect(ok).to.have.length(1)
    for (const r of replies.filter(r => r.status !== 200)) { expectError(r, 401, 'TOKEN_REJECTED') }
    expect(await certCount(svc)).to.equal(before + 1)
    expect((await svc.service.tokens.get(t))?.used).to.equal(1)
  })

  it('an expired token is 401 TOKEN_REJECTED and nothing is issued', async () => {
    const t = await token({ ttlMs: 60_000 })
    svc.clock.advance(61_000)
    try {
      const before = await certCount(svc)
      const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('late')).csrPem })
      expectError(r, 401, 'TOKEN_REJECTED')
      expect(await certCount(svc)).to.equal(before)
    } finally {
      svc.clock.advance(-61_000)
    }
  })

  it('a token bound to node A used for B is 403 TOKEN_NODE_MISMATCH; nothing issued; A can still use it', async () => {
    const t = await token({ nodeId: 'node-a' })
    const before = await certCount(svc)
    const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('node-b')).csrPem, node_id: 'node-b' })
    expectError(r, 403, 'TOKEN_NODE_MISMATCH')
    expect(await certCount(svc)).to.equal(before)
    const a = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('node-a')).csrPem })
    expect(a.status).to.equal(200)
    expect(a.json.node_id).to.equal('node-a')
  })

  it('a revoked node re-enrolling with a fresh token is 403 NODE_REVOKED until an operator clears it', async () => {
    expect((await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: (await nodeCsr('bad-node')).csrPem })).status).to.equal(200)
    await svc.service.revoke({ nodeId: 'bad-node', reason: 'keyCompromise' }, svc.clock.now())
    const before = await certCount(svc)
    const t = await token()
    const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('bad-node')).csrPem })
    expectError(r, 403, 'NODE_REVOKED')
    expect(await certCount(svc)).to.equal(before)
    // The refusal did not spend the token: after the operator clears the node it works.
    expect(await svc.service.clearNodeRevocation('bad-node', svc.clock.now())).to.equal(true)
    expect((await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('bad-node')).csrPem })).status).to.equal(200)
  })

  it('node_id in the request differing from the CSR is 400 NODE_ID_CONFLICT', async () => {
    const r = await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: (await nodeCsr('csr-name')).csrPem, node_id: 'other-name' })
    expectError(r, 400, 'NODE_ID_CONFLICT')
  })

  describe('malformed requests (each 400 with its own code, nothing issued)', () => {
    let before: number
    beforeEach(async () => { before = await certCount(svc) })
    afterEach(async () => { expect(await certCount(svc)).to.equal(before) })

    it('a token not in the token format is 400 INVALID_TOKEN_FORMAT', async () => {
      expectError(await call(svc, 'POST', '/v1/enroll', { token: 'not-a-token', csr: (await nodeCsr('x1')).csrPem }), 400, 'INVALID_TOKEN_FORMAT')
    })

    it('a missing token is 400 INVALID_TOKEN_FORMAT', async () => {
      expectError(await call(svc, 'POST', '/v1/enroll', { csr: (await nodeCsr('x1')).csrPem }), 400, 'INVALID_TOKEN_FORMAT')
    })

    it('a CSR that is not PEM is 400 INVALID_CSR', async () => {
      expectError(await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: '-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n' }), 400, 'INVALID_CSR')
    })

    it('PEM with several blocks is 400 INVALID_CSR', async () => {
      const a = (await nodeCsr('multi')).csrPem
      const b = (await nodeCsr('multi')).csrPem
      expectError(await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: a + b }), 400, 'INVALID_CSR')
    })

    it('a CSR with a broken self-signature is 400 INVALID_CSR and the token is not spent', async () => {
      const t = await token()
      const der = Buffer.from(pemToDerAll((await nodeCsr('forged')).csrPem, 'CERTIFICATE REQUEST')[0])
      der[der.length - 5] ^= 0x01
      expectError(await call(svc, 'POST', '/v1/enroll', { token: t, csr: der.toString('base64') }), 400, 'INVALID_CSR')
      expect((await svc.service.tokens.get(t))?.usesLeft).to.equal(1)
    })

    it('JSON with a __proto__ key is 400 FORBIDDEN_JSON_KEY', async () => {
      const t = await token()
      const csr = JSON.stringify((await nodeCsr('proto')).csrPem)
      const raw = `{"token":"${t}","csr":${csr},"__proto__":{"isAdmin":true}}`
      expectError(await call(svc, 'POST', '/v1/enroll', undefined, { raw }), 400, 'FORBIDDEN_JSON_KEY')
    })

    it('JSON with constructor.prototype is 400 FORBIDDEN_JSON_KEY', async () => {
      const raw = `{"token":"${await token()}","csr":"x","constructor":{"prototype":{"polluted":1}}}`
      expectError(await call(svc, 'POST', '/v1/enroll', undefined, { raw }), 400, 'FORBIDDEN_JSON_KEY')
      expect(({} as any).polluted).to.equal(undefined)
    })

    it('a node_id with ../ is 400 INVALID_NODE_ID', async () => {
      expectError(await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: (await nodeCsr('x2')).csrPem, node_id: '../etc/passwd' }), 400, 'INVALID_NODE_ID')
    })

    it('a node_id with NUL is 400 INVALID_NODE_ID', async () => {
      expectError(await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: (await nodeCsr('x3')).csrPem, node_id: 'node\u0000x' }), 400, 'INVALID_NODE_ID')
    })

    it('an unknown field is 400 INVALID_REQUEST (not silently dropped)', async () => {
      expectError(await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: (await nodeCsr('x4')).csrPem, is_admin: true }), 400, 'INVALID_REQUEST')
    })

    it('bad JSON is 400 INVALID_JSON', async () => {
      expectError(await call(svc, 'POST', '/v1/enroll', undefined, { raw: '{"token":' }), 400, 'INVALID_JSON')
    })

    it('an oversized body is 413 BODY_TOO_LARGE', async () => {
      const raw = JSON.stringify({ token: await token(), csr: 'A'.repeat(70 * 1024) })
      expectError(await call(svc, 'POST', '/v1/enroll', undefined, { raw }), 413, 'BODY_TOO_LARGE')
    })

    it('a body that is not JSON is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      expectError(await call(svc, 'POST', '/v1/enroll', undefined, { raw: 'token=x', headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE')
    })
  })

  it('an unknown route is 404 NOT_FOUND from the catalogue', async () => {
    expectError(await call(svc, 'GET', '/v1/nope'), 404, 'NOT_FOUND')
  })
})

describe('enrollment service: policy (403)', () => {
  it('a node_id off the allow list is 403 NODE_NOT_ALLOWED; one on it enrolls', async () => {
    const svc = await startService({ service: { policy: { allowNodeIds: ['allowed-1'] } } })
    try {
      const t = (await svc.service.createToken({ ttlMs: 60_000, uses: 2 }, svc.clock.now())).token
      const before = await certCount(svc)
      expectError(await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('stranger')).csrPem }), 403, 'NODE_NOT_ALLOWED')
      expect(await certCount(svc)).to.equal(before)
      expect((await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('allowed-1')).csrPem })).status).to.equal(200)
    } finally {
      await svc.cleanup()
    }
  })

  it('beyond max nodes a new node_id is 403 MAX_NODES_REACHED; an enrolled one may re-enroll', async () => {
    const svc = await startService({ service: { policy: { maxNodes: 2 } } })
    try {
      const t = (await svc.service.createToken({ ttlMs: 60_000, uses: 10 }, svc.clock.now())).token
      for (const id of ['m-1', 'm-2']) { expect((await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr(id)).csrPem })).status).to.equal(200) }
      const before = await certCount(svc)
      expectError(await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('m-3')).csrPem }), 403, 'MAX_NODES_REACHED')
      expect(await certCount(svc)).to.equal(before)
      // Re-enrolling a node_id that holds a live certificate takes a replacement token (else NODE_ID_TAKEN).
      const again = (await svc.service.createToken({ ttlMs: 60_000, uses: 1, nodeId: 'm-1', replace: true }, svc.clock.now())).token
      expect((await call(svc, 'POST', '/v1/enroll', { token: again, csr: (await nodeCsr('m-1')).csrPem })).status).to.equal(200)
    } finally {
      await svc.cleanup()
    }
  })

  it('with attestation required, the software verifier\'s "none" is 403 ATTESTATION_REJECTED', async () => {
    const svc = await startService({ service: { policy: { requireAttestation: true } } })
    try {
      const t = (await svc.service.createToken({ ttlMs: 60_000, uses: 1 }, svc.clock.now())).token
      const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('att-1')).csrPem, attestation: { type: 'tpm_quote', payload: 'AAAA' } })
      expectError(r, 403, 'ATTESTATION_REJECTED')
      expect((await svc.service.tokens.get(t))?.usesLeft).to.equal(1)
    } finally {
      await svc.cleanup()
    }
  })

  it('an attestation field reaches the verifier hook with the CSR key', async () => {
    const seen: any[] = []
    const svc = await startService({ service: { attestation: { verify: async (input) => { seen.push(input); return { result: 'accept' } } } } })
    try {
      const t = (await svc.service.createToken({ ttlMs: 60_000, uses: 1 }, svc.clock.now())).token
      const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('att-2')).csrPem, attestation: { type: 'tpm_quote', payload: 'AAAA' } })
      expect(r.status).to.equal(200)
      expect(seen).to.have.length(1)
      expect(seen[0].evidence).to.deep.equal({ type: 'tpm_quote', payload: 'AAAA' })
      expect(seen[0].nodeId).to.equal('att-2')
      expect(seen[0].csrSpki).to.be.instanceOf(Uint8Array)
    } finally {
      await svc.cleanup()
    }
  })
})

describe('enrollment service: rate limits (429)', () => {
  let svc: Service
  before(async () => { svc = await startService() })
  after(async () => { await svc.cleanup() })

  it('per source address: 429 RATE_LIMITED with Retry-After after a burst', async () => {
    const limited = await svc.extraServer({ perAddressLimit: { max: 3, windowMs: 60_000 } })
    const target = { url: limited.url, rootPem: svc.rootPem }
    const replies = []
    for (let i = 0; i < 5; i++) { replies.push(await call(target, 'GET', '/v1/crl')) }
    expect(replies.slice(0, 3).map(r => r.status)).to.deep.equal([200, 200, 200])
    for (const r of replies.slice(3)) {
      expectError(r, 429, 'RATE_LIMITED')
      const after = Number(r.headers['retry-after'])
      expect(after).to.be.greaterThan(0).and.at.most(60)
    }
  })

  it('globally: 429 RATE_LIMITED with Retry-After once the shared budget is spent', async () => {
    const limited = await svc.extraServer({ globalLimit: { max: 2, windowMs: 30_000 } })
    const target = { url: limited.url, rootPem: svc.rootPem }
    const statuses = []
    for (let i = 0; i < 4; i++) { statuses.push(await call(target, 'POST', '/v1/enroll', { token: 'x', csr: 'x' })) }
    expect(statuses.map(r => r.status)).to.deep.equal([400, 400, 429, 429])
    expectError(statuses[3], 429, 'RATE_LIMITED')
    expect(Number(statuses[3].headers['retry-after'])).to.be.greaterThan(0).and.at.most(30)
  })
})
