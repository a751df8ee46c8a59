import { expect } from 'aegir/chai'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { renewalTranscript } from '../../src/enrollment/renewal-proof.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { nodeIdentity } from '../../src/pki/node-identity.ts'
import { issueSessionCredential } from '../../src/pki/session-cert.ts'
import { derToPem, pemToDerAll } from '../../src/util/pem.ts'
import { call, nodeKey, startService } from './harness.ts'
import type { Service } from './harness.ts'

const DAY = 24 * 3600_000

interface Held { nodeId: string, key: Awaited<ReturnType<typeof nodeKey>>, chainPem: string, serial: string, notAfter: number }

function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).to.equal(status)
  expect(r.json.error.code).to.equal(code)
}

/**
 * `POST /v1/renew`: a node whose certificate expired while it was offline renews without
 * a token by proving possession of its old key; refused past the renewal window (with a code that
 * says "enroll again"), for a revoked node_id or certificate, without a valid proof or nonce.
 * And `/v1/rotate` over mutual TLS through a session certificate (any key store).
 */
describe('enrollment service: renewal after expiry (POST /v1/renew) and rotation through a session certificate', () => {
  let svc: Service
  before(async () => { svc = await startService({ service: { renewalWindowMs: 30 * DAY } }) })
  after(async () => { await svc.cleanup() })
  afterEach(() => { svc.clock.offsetMs = 0 })

  /** A node certificate issued straight by the CA, `validitySeconds` long, with its key handle. */
  async function issue (nodeId: string, validitySeconds = 60): Promise<Held> {
    const key = await nodeKey()
    const csr = await createCsr(key.handle, { nodeId, peerId: key.peerId })
    const issued = await svc.ca.issue({ csr, now: svc.clock.now(), validitySeconds })
    return { nodeId, key, chainPem: issued.pem + issued.chainPem, serial: issued.serialHex, notAfter: issued.notAfter }
  }

  /** A full renewal request by `held` (its old key signs); `tamper` changes a part. */
  async function renew (held: Held, tamper: { signWith?: Held, nonce?: Uint8Array, nodeId?: string } = {}): Promise<{ status: number, json: any }> {
    const next = await nodeKey()
    const csrDer = await createCsr(next.handle, { nodeId: tamper.nodeId ?? held.nodeId, peerId: held.key.peerId })
    const nonce = tamper.nonce ?? new Uint8Array(Buffer.from((await call(svc, 'GET', '/v1/renew/nonce')).json.nonce, 'base64'))
    const proof = await (tamper.signWith ?? held).key.handle.sign(renewalTranscript(nonce, csrDer))
    return call(svc, 'POST', '/v1/renew', {
      certificate: held.chainPem,
      csr: derToPem(csrDer, 'CERTIFICATE REQUEST'),
      nonce: Buffer.from(nonce).toString('base64'),
      proof: Buffer.from(proof).toString('base64')
    })
  }

  it('rotates over mutual TLS with a session certificate the identity key signed (the key never leaves its store)', async () => {
    const held = await issue('sess-1', 3600)
    const chain = pemToDerAll(held.chainPem, 'CERTIFICATE')
    const session = await issueSessionCredential({ signer: held.key.handle.signer(), nodeChain: chain, now: svc.clock.now(), validityMs: 300_000 })
    const next = await nodeKey()
    const csr = derToPem(await createCsr(next.handle, { nodeId: 'sess-1', peerId: next.peerId }), 'CERTIFICATE REQUEST')
    const r = await call(svc, 'POST', '/v1/rotate', { csr, current_cert_serial: held.serial }, { client: { certPem: session.certPem, keyPem: session.keyPem } })
    expect(r.status, JSON.stringify(r.json)).to.equal(200)
    expect(nodeIdentity(parseCertificate(pemToDerAll(r.json.certificate, 'CERTIFICATE')[0])).nodeId).to.equal('sess-1')
  })

  it('renews a certificate that expired 10 days ago: same node_id, new key, no token', async () => {
    const held = await issue('renew-1')
    svc.clock.advance(10 * DAY)
    // Control: a wrong proof is refused even inside the window.
    expectError(await renew(held, { signWith: await issue('someone') }), 401, 'RENEWAL_PROOF_INVALID')
    const r = await renew(held)
    expect(r.status, JSON.stringify(r.json)).to.equal(200)
    const cert = parseCertificate(pemToDerAll(r.json.certificate, 'CERTIFICATE')[0])
    expect(nodeIdentity(cert)).to.deep.include({ nodeId: 'renew-1', peerId: held.key.peerId })
    expect(cert.notBefore).to.be.greaterThan(held.notAfter)
    const audit = await svc.ca.store.auditLog()
    expect(audit.at(-1)).to.deep.include({ action: 'renew-after-expiry' })
    expect(audit.at(-1)?.fields).to.deep.include({ node_id: 'renew-1', old_serial: held.serial })
  })

  it('refuses past the window with RENEWAL_WINDOW_PASSED (403): the node must enroll again', async () => {
    const held = await issue('renew-2')
    svc.clock.advance(31 * DAY)
    expectError(await renew(held), 403, 'RENEWAL_WINDOW_PASSED')
    // The same certificate one day inside the window renews: the window is what refused it.
    svc.clock.offsetMs = 29 * DAY
    expect((await renew(held)).status).to.equal(200)
  })

  it('refuses a revoked node_id (NODE_REVOKED) and a revoked certificate (CERT_REVOKED), expired or not', async () => {
    const a = await issue('renew-3')
    const b = await issue('renew-4')
    await svc.service.revoke({ nodeId: 'renew-3' }, svc.clock.now())
    await svc.service.revoke({ serialHex: b.serial, reason: 'keyCompromise' }, svc.clock.now())
    svc.clock.advance(DAY)
    expectError(await renew(a), 403, 'CERT_REVOKED')
    expectError(await renew(b), 403, 'CERT_REVOKED')
    // A node_id revoked after its certificate expired (so no CRL entry): the node_id block refuses it.
    const c = await issue('renew-5')
    svc.clock.advance(DAY)
    await svc.service.revoke({ nodeId: 'renew-5' }, svc.clock.now())
    // renew-5's certificate was revoked too (revokeNodeId revokes all its certificates).
    const d = await renew(c)
    expect(d.status).to.equal(403)
    expect(['NODE_REVOKED', 'CERT_REVOKED']).to.include(d.json.error.code)
  })

  it('nonces are single use and must come from the CA (RENEWAL_NONCE_INVALID)', async () => {
    const held = await issue('renew-6')
    svc.clock.advance(DAY)
    expectError(await renew(held, { nonce: new Uint8Array(32).fill(7) }), 401, 'RENEWAL_NONCE_INVALID')
    const nonce = new Uint8Array(Buffer.from((await call(svc, 'GET', '/v1/renew/nonce')).json.nonce, 'base64'))
    expect((await renew(held, { nonce })).status).to.equal(200)
    expectError(await renew(held, { nonce }), 401, 'RENEWAL_NONCE_INVALID')
  })

  it('a CSR for another node_id is NODE_ID_CONFLICT; a certificate from another CA is CLIENT_CERT_INVALID', async () => {
    const held = await issue('renew-7')
    svc.clock.advance(DAY)
    expectError(await renew(held, { nodeId: 'renew-other' }), 400, 'NODE_ID_CONFLICT')
    const other = await startService()
    try {
      const key = await nodeKey()
      const foreign = await other.ca.issue({ csr: await createCsr(key.handle, { nodeId: 'renew-8', peerId: key.peerId }), now: other.clock.now(), validitySeconds: 60 })
      expectError(await renew({ nodeId: 'renew-8', key, chainPem: foreign.pem + foreign.chainPem, serial: foreign.serialHex, notAfter: foreign.notAfter }), 401, 'CLIENT_CERT_INVALID')
    } finally {
      await other.cleanup()
    }
  })

  it('revoking the issuing CA (root CRL) refuses renewal of every certificate under it (CERT_REVOKED)', async () => {
    const local = await startService()
    try {
      const key = await nodeKey()
      const issued = await local.ca.issue({ csr: await createCsr(key.handle, { nodeId: 'renew-9', peerId: key.peerId }), now: local.clock.now(), validitySeconds: 60 })
      await local.ca.revoke({ serialHex: local.ca.issuingCertificate.serialHex, reason: 'cACompromise', now: local.clock.now() })
      local.clock.advance(DAY)
      const next = await nodeKey()
      const csrDer = await createCsr(next.handle, { nodeId: 'renew-9', peerId: key.peerId })
      const nonce = new Uint8Array(Buffer.from((await call(local, 'GET', '/v1/renew/nonce')).json.nonce, 'base64'))
      const proof = await key.handle.sign(renewalTranscript(nonce, csrDer))
      const r = await call(local, 'POST', '/v1/renew', { certificate: issued.pem + issued.chainPem, csr: derToPem(csrDer, 'CERTIFICATE REQUEST'), nonce: Buffer.from(nonce).toString('base64'), proof: Buffer.from(proof).toString('base64') })
      expectError(r, 403, 'CERT_REVOKED')
    } finally {
      await local.cleanup()
    }
  })
})
