import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { nodeIdentity } from '../../src/pki/node-identity.ts'
import { verifyChain } from '../../src/pki/verify-chain.ts'
import { pemToDerAll } from '../../src/util/pem.ts'
import { adminCred, call, certCount, enrollVia, nodeCsr, startService, PASS } from './harness.ts'
import type { Service } from './harness.ts'

function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).to.equal(status)
  expect(r.json.error.code).to.equal(code)
}

/** The `cause` field of the last request log line: why the client certificate was refused. */
const lastCause = (svc: Service): string | undefined => svc.requestLogs().at(-1)?.cause

const leafOf = (pem: string): ReturnType<typeof parseCertificate> => parseCertificate(pemToDerAll(pem, 'CERTIFICATE')[0])

describe('enrollment service: POST /v1/rotate (mutual TLS)', () => {
  let svc: Service
  before(async () => { svc = await startService() })
  after(async () => { await svc.cleanup() })

  it('rotates: same node_id, new key, overlapping validity, never past the issuer; old cert stays valid', async () => {
    const cur = await enrollVia(svc, 'rot-1')
    const next = await nodeCsr('rot-1')
    const r = await call(svc, 'POST', '/v1/rotate', { csr: next.csrPem, current_cert_serial: cur.serial }, { client: cur })
    expect(r.status, r.body.toString()).to.equal(200)
    const oldCert = leafOf(cur.certPem)
    const newCert = leafOf(r.json.certificate)
    expect(nodeIdentity(newCert).nodeId).to.equal('rot-1')
    expect(newCert.serialHex).to.not.equal(oldCert.serialHex)
    expect(newCert.notBefore).to.be.at.most(oldCert.notAfter)
    expect(newCert.notAfter).to.be.at.most(svc.ca.issuingCertificate.notAfter)
    expect(r.json.valid_not_after).to.equal(new Date(newCert.notAfter).toISOString())
    // The old certificate is not revoked by rotation: it verifies against the current CRL.
    const crl = (await svc.service.crl(svc.clock.now())).der
    const roots = pemToDerAll(svc.rootPem, 'CERTIFICATE')
    verifyChain(svc.clock.now(), oldCert, pemToDerAll(cur.certPem, 'CERTIFICATE').slice(1), roots, [crl], {})
    verifyChain(svc.clock.now(), newCert, pemToDerAll(r.json.chain, 'CERTIFICATE'), roots, [crl], {})
  })

  it('a CSR for another node_id is 400 NODE_ID_CONFLICT and nothing is issued', async () => {
    const cur = await enrollVia(svc, 'rot-2')
    const before = await certCount(svc)
    const r = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('someone-else')).csrPem, current_cert_serial: cur.serial }, { client: cur })
    expectError(r, 400, 'NODE_ID_CONFLICT')
    expect(await certCount(svc)).to.equal(before)
  })

  it('current_cert_serial that is not the client certificate is 400 SERIAL_MISMATCH', async () => {
    const cur = await enrollVia(svc, 'rot-3')
    const r = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rot-3')).csrPem, current_cert_serial: 'abcdef' }, { client: cur })
    expectError(r, 400, 'SERIAL_MISMATCH')
  })

  it('no client certificate is 401 CLIENT_CERT_REQUIRED and nothing is issued', async () => {
    const before = await certCount(svc)
    const r = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rot-4')).csrPem, current_cert_serial: 'ab' })
    expectError(r, 401, 'CLIENT_CERT_REQUIRED')
    expect(await certCount(svc)).to.equal(before)
  })

  it('a certificate from another CA is 401 CLIENT_CERT_INVALID and nothing is issued', async () => {
    const base = await mkdtemp(join(tmpdir(), 'dadm-other-'))
    const other = await MeshCa.init({ dir: join(base, 'ca'), passphrase: PASS, now: svc.clock.now(), scryptLogN: MIN_SCRYPT_LOG_N })
    try {
      const csr = await nodeCsr('rot-5')
      const issued = await other.issue({ csr: csr.csrPem, now: svc.clock.now() })
      const before = await certCount(svc)
      const r = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rot-5')).csrPem, current_cert_serial: issued.serialHex }, { client: { certPem: issued.pem + issued.chainPem, keyPem: csr.keyPem } })
      expectError(r, 401, 'CLIENT_CERT_INVALID')
      expect(lastCause(svc)).to.equal('ChainValidationError:UNKNOWN_ISSUER')
      expect(await certCount(svc)).to.equal(before)
    } finally {
      await other.close()
      await rm(base, { recursive: true, force: true })
    }
  })

  it('an expired certificate is 401 CLIENT_CERT_INVALID and nothing is issued', async () => {
    const csr = await nodeCsr('rot-6')
    const issued = await svc.ca.issue({ csr: csr.csrPem, now: svc.clock.now(), validitySeconds: 5 })
    const client = { certPem: issued.pem + issued.chainPem, keyPem: csr.keyPem }
    // Control: while valid, the same certificate rotates.
    expect((await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rot-6')).csrPem, current_cert_serial: issued.serialHex }, { client })).status).to.equal(200)
    // The service's clock moves past notAfter; TLS itself (real clock) still carries the certificate.
    svc.clock.advance(10_000)
    try {
      const before = await certCount(svc)
      const r = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rot-6')).csrPem, current_cert_serial: issued.serialHex }, { client })
      expectError(r, 401, 'CLIENT_CERT_INVALID')
      expect(lastCause(svc)).to.equal('ChainValidationError:EXPIRED')
      expect(await certCount(svc)).to.equal(before)
    } finally {
      svc.clock.advance(-10_000)
    }
  })

  it('a revoked certificate is 401 CLIENT_CERT_INVALID and nothing is issued', async () => {
    const cur = await enrollVia(svc, 'rot-7')
    // Control: before the revocation the same certificate rotates.
    expect((await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rot-7')).csrPem, current_cert_serial: cur.serial }, { client: cur })).status).to.equal(200)
    await svc.service.revoke({ serialHex: cur.serial, reason: 'keyCompromise' }, svc.clock.now())
    const before = await certCount(svc)
    const r = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rot-7')).csrPem, current_cert_serial: cur.serial }, { client: cur })
    expectError(r, 401, 'CLIENT_CERT_INVALID')
    expect(lastCause(svc)).to.equal('ChainValidationError:REVOKED')
    expect(await certCount(svc)).to.equal(before)
  })

  it('an admin certificate is 401 CLIENT_CERT_WRONG_ROLE on /v1/rotate', async () => {
    const admin = await adminCred(svc)
    const r = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rot-8')).csrPem, current_cert_serial: admin.serial }, { client: admin })
    expectError(r, 401, 'CLIENT_CERT_WRONG_ROLE')
  })
})

describe('enrollment service: POST /v1/rotate policy (403)', () => {
  let svc: Service
  before(async () => {
    svc = await startService({
      service: {
        policy: { allowNodeIds: ['listed'] },
        attestation: { verify: async ({ evidence }) => ({ result: evidence?.type === 'bad' ? 'reject' : 'none' }) }
      }
    })
  })
  after(async () => { await svc.cleanup() })

  /** A node certificate issued straight by the CA, bypassing the allow list, so that rotation is the only check under test. */
  const direct = async (nodeId: string): Promise<{ certPem: string, keyPem: string, serial: string }> => {
    const csr = await nodeCsr(nodeId)
    const issued = await svc.ca.issue({ csr: csr.csrPem, now: svc.clock.now() })
    return { certPem: issued.pem + issued.chainPem, keyPem: csr.keyPem, serial: issued.serialHex }
  }

  it('a node off the allow list cannot rotate: 403 NODE_NOT_ALLOWED, nothing issued', async () => {
    const cur = await direct('unlisted')
    const before = await certCount(svc)
    const r = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('unlisted')).csrPem, current_cert_serial: cur.serial }, { client: cur })
    expectError(r, 403, 'NODE_NOT_ALLOWED')
    expect(await certCount(svc)).to.equal(before)
  })

  it('attestation the verifier rejects is 403 ATTESTATION_REJECTED; without it the rotation passes', async () => {
    const cur = await direct('listed')
    const before = await certCount(svc)
    const bad = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('listed')).csrPem, current_cert_serial: cur.serial, attestation: { type: 'bad' } }, { client: cur })
    expectError(bad, 403, 'ATTESTATION_REJECTED')
    expect(await certCount(svc)).to.equal(before)
    const ok = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('listed')).csrPem, current_cert_serial: cur.serial }, { client: cur })
    expect(ok.status).to.equal(200)
  })
})
