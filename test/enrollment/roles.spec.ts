import 'reflect-metadata'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as x509 from '@peculiar/x509'
import { expect } from 'aegir/chai'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { MeshCa } from '../../src/ca/index.ts'
import { rolesExtension } from '../../src/ca/roles-build.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { startAdminSocket } from '../../src/enrollment/admin-socket.ts'
import { renewalTranscript } from '../../src/enrollment/renewal-proof.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { NODE_URI_PREFIX, PEER_URI_PREFIX } from '../../src/pki/node-identity.ts'
import { ROLES_OID, rolesOf } from '../../src/pki/roles-extension.ts'
import { derToPem, pemToDerAll } from '../../src/util/pem.ts'
import { runMain } from '../cli/run-main.ts'
import { call, certCount, nodeCsr, nodeKey, PASS, startService } from './harness.ts'
import type { ClientCred, Service } from './harness.ts'
import type { AdminSocket } from '../../src/enrollment/admin-socket.ts'
import type { CliRun } from '../cli/run-main.ts'

const DAY = 24 * 3600_000

const leafOf = (pem: string): ReturnType<typeof parseCertificate> => parseCertificate(pemToDerAll(pem, 'CERTIFICATE')[0])

/**
 * Roles, end to end on the real CA behind the real HTTPS enrollment service: the operator names
 * them on the token (`ca token --role`, through the running service's admin socket or offline),
 * POST /v1/enroll puts exactly those into the certificate, /v1/rotate and /v1/renew copy them
 * from the certificate being replaced, and nothing a node sends can add one.
 */
describe('enrollment: roles come from the CA (token, or the certificate replaced)', function () {
  this.timeout(120_000)
  let svc: Service
  let admin: AdminSocket

  before(async () => {
    svc = await startService({ service: { renewalWindowMs: 30 * DAY } })
    admin = await startAdminSocket({ dir: svc.dir, ops: svc.service, now: svc.clock.now })
  })
  after(async () => {
    await admin?.close()
    await svc?.cleanup()
  })
  afterEach(() => { svc.clock.offsetMs = 0 })

  /** `dadm-mesh ...` in this process; `ca token` reaches the service through its admin socket. */
  async function cli (argv: string[]): Promise<CliRun> {
    return runMain(argv, { DADM_MESH_PASSPHRASE: PASS })
  }

  /** `ca token --json` with these extra flags; returns the parsed answer. */
  async function token (...flags: string[]): Promise<any> {
    const r = await cli(['ca', 'token', '--dir', svc.dir, '--json', ...flags])
    expect(r.code, r.stderr).to.equal(0)
    return JSON.parse(r.stdout)
  }

  async function enroll (tok: string, nodeId: string): Promise<ClientCred & { serial: string }> {
    const csr = await nodeCsr(nodeId)
    const r = await call(svc, 'POST', '/v1/enroll', { token: tok, csr: csr.csrPem, node_id: nodeId })
    expect(r.status, r.body.toString()).to.equal(200)
    return { certPem: r.json.certificate + r.json.chain, keyPem: csr.keyPem, serial: r.json.serial }
  }

  it('enroll with a two-role token (ca token --role, via the admin socket): the certificate has exactly those roles; list-certs shows them', async () => {
    const t = await token('--role', 'relay', '--role', 'gateway', '--role', 'relay')
    expect(t.roles).to.deep.equal(['gateway', 'relay'])
    expect(await svc.service.tokens.get(t.token)).to.deep.include({ roles: ['gateway', 'relay'] })
    const cred = await enroll(t.token, 'roles-1')
    const leaf = leafOf(cred.certPem)
    expect(leaf.extensions.get(ROLES_OID)?.critical).to.equal(false)
    expect(rolesOf(leaf)).to.deep.equal(['gateway', 'relay'])
    // The audit names the roles the token grants.
    const minted = (await svc.ca.store.auditLog()).filter(e => e.action === 'token-create').at(-1)
    expect(minted?.fields).to.include({ roles: 'gateway,relay' })
    const listed = await cli(['ca', 'list-certs', '--dir', svc.dir, '--node-id', 'roles-1', '--json'])
    expect(listed.code, listed.stderr).to.equal(0)
    expect(JSON.parse(listed.stdout).certificates.map((c: any) => c.roles)).to.deep.equal([['gateway', 'relay']])
    const text = await cli(['ca', 'list-certs', '--dir', svc.dir, '--node-id', 'roles-1'])
    expect(text.stdout).to.include('ROLES').and.to.include('gateway,relay')
  })

  it('a token without --role gives a certificate without the roles extension', async () => {
    const t = await token()
    expect(t.roles).to.deep.equal([])
    expect(await svc.service.tokens.get(t.token)).to.not.have.property('roles')
    const leaf = leafOf((await enroll(t.token, 'roles-none')).certPem)
    expect(leaf.extensions.has(ROLES_OID)).to.equal(false)
    expect(rolesOf(leaf)).to.deep.equal([])
  })

  it('rotation (POST /v1/rotate) keeps the roles of the certificate it replaces', async () => {
    const cur = await enroll((await token('--role', 'sensor', '--role', 'edge')).token, 'roles-rot')
    const next = await nodeCsr('roles-rot')
    const r = await call(svc, 'POST', '/v1/rotate', { csr: next.csrPem, current_cert_serial: cur.serial }, { client: cur })
    expect(r.status, r.body.toString()).to.equal(200)
    expect(rolesOf(leafOf(r.json.certificate))).to.deep.equal(['edge', 'sensor'])
    expect((await svc.ca.getCertificate(r.json.serial))?.roles).to.deep.equal(['edge', 'sensor'])
  })

  it('renewal after expiry (POST /v1/renew) keeps the roles of the certificate it replaces', async () => {
    const key = await nodeKey()
    const old = await svc.ca.issue({ csr: await createCsr(key.handle, { nodeId: 'roles-ren', peerId: key.peerId }), now: svc.clock.now(), validitySeconds: 60, roles: ['archive'] })
    svc.clock.advance(DAY)
    const next = await nodeKey()
    const csrDer = await createCsr(next.handle, { nodeId: 'roles-ren', peerId: key.peerId })
    const nonce = new Uint8Array(Buffer.from((await call(svc, 'GET', '/v1/renew/nonce')).json.nonce, 'base64'))
    const proof = await key.handle.sign(renewalTranscript(nonce, csrDer))
    const r = await call(svc, 'POST', '/v1/renew', {
      certificate: old.pem + old.chainPem,
      csr: derToPem(csrDer, 'CERTIFICATE REQUEST'),
      nonce: Buffer.from(nonce).toString('base64'),
      proof: Buffer.from(proof).toString('base64')
    })
    expect(r.status, r.body.toString()).to.equal(200)
    expect(rolesOf(leafOf(r.json.certificate))).to.deep.equal(['archive'])
  })

  it('a CSR carrying the roles extension gets none of its roles: only the token\'s', async () => {
    const k = await nodeKey()
    const signer = k.handle.signer()
    const csrFor = async (nodeId: string): Promise<string> => derToPem(new Uint8Array((await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${nodeId}`,
      keys: { privateKey: signer.privateKey, publicKey: signer.publicKey },
      signingAlgorithm: signer.signingAlgorithm,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: NODE_URI_PREFIX + nodeId }, { type: 'url', value: PEER_URI_PREFIX + k.peerId }], false),
        rolesExtension(['admin', 'ca'])
      ]
    }, signer.crypto)).rawData), 'CERTIFICATE REQUEST')
    // A token with no roles: the certificate has no roles extension at all.
    const plain = await call(svc, 'POST', '/v1/enroll', { token: (await token()).token, csr: await csrFor('roles-csr-1') })
    expect(plain.status, plain.body.toString()).to.equal(200)
    expect(leafOf(plain.json.certificate).extensions.has(ROLES_OID)).to.equal(false)
    // A token with a role: exactly the token's role, none of the CSR's.
    const granted = await call(svc, 'POST', '/v1/enroll', { token: (await token('--role', 'sensor')).token, csr: await csrFor('roles-csr-2') })
    expect(granted.status, granted.body.toString()).to.equal(200)
    expect(rolesOf(leafOf(granted.json.certificate))).to.deep.equal(['sensor'])
  })

  it('a replacement enrollment (--replace) takes the replacement token\'s roles, not the holder\'s', async () => {
    await enroll((await token('--node-id', 'roles-rep', '--role', 'old-role')).token, 'roles-rep')
    const t = await token('--node-id', 'roles-rep', '--replace', '--role', 'new-role')
    expect(t).to.deep.include({ replace: true, roles: ['new-role'] })
    expect(rolesOf(leafOf((await enroll(t.token, 'roles-rep')).certPem))).to.deep.equal(['new-role'])
  })

  it('ca token refuses a bad role name or a 17th role: usage error (exit 2) naming --role, no token stored; the service refuses them too', async () => {
    const before = (await svc.service.tokens.hashes()).length
    for (const flags of [['--role', 'Admin'], ['--role', 'ok', '--role', '9lives'], ['--role', 'a'.repeat(33)], ['--role', ''], Array.from({ length: 17 }, (_, i) => ['--role', `r${i}`]).flat()]) {
      const r = await cli(['ca', 'token', '--dir', svc.dir, ...flags])
      expect(r.code, flags.join(' ')).to.equal(2)
      expect(r.stderr).to.include('--role')
      expect(r.stdout).to.equal('')
    }
    // Whoever asks the service (admin socket body, or in process) gets INVALID_TOKEN_PARAMS.
    const err = await svc.service.createToken({ ttlMs: 60_000, uses: 1, roles: ['Bad'] }, svc.clock.now()).catch(e => e)
    expect(err).to.include({ name: 'EnrollmentError', code: 'INVALID_TOKEN_PARAMS' })
    expect((await svc.service.tokens.hashes()).length).to.equal(before)
  })

  it('node status (text and --json) shows the roles of the node\'s certificate', async () => {
    const dir = join(svc.base, 'node-roles-status')
    const t = await token('--role', 'gateway', '--role', 'telemetry')
    await enrollNode({ dir, caUrl: svc.url, caCertPem: svc.rootPem, token: t.token, nodeId: 'roles-st', passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, timeoutMs: 10_000 })
    const json = await cli(['node', 'status', '--dir', dir, '--json'])
    expect(json.code, json.stderr).to.equal(0)
    expect(JSON.parse(json.stdout).roles).to.deep.equal(['gateway', 'telemetry'])
    const text = await cli(['node', 'status', '--dir', dir])
    expect(text.stdout).to.match(/\nroles\s+gateway, telemetry\n/)
  })
})

describe('enrollment: ca token --role without a running service', function () {
  this.timeout(60_000)
  let base: string

  before(async () => { base = await mkdtemp(join(tmpdir(), 'dadm-roles-off-')) })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  it('stores the roles in the token record offline; the service started later issues them', async () => {
    const dir = join(base, 'ca')
    const ca = await MeshCa.init({ dir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    await ca.close()
    const r = await runMain(['ca', 'token', '--dir', dir, '--role', 'relay', '--json'], { DADM_MESH_PASSPHRASE: PASS })
    expect(r.code, r.stderr).to.equal(0)
    const t = JSON.parse(r.stdout)
    expect(t.roles).to.deep.equal(['relay'])
    const svc = await startService({ dir })
    try {
      const before = await certCount(svc)
      const csr = await nodeCsr('roles-off')
      const reply = await call(svc, 'POST', '/v1/enroll', { token: t.token, csr: csr.csrPem })
      expect(reply.status, reply.body.toString()).to.equal(200)
      expect(rolesOf(leafOf(reply.json.certificate))).to.deep.equal(['relay'])
      expect(await certCount(svc)).to.equal(before + 1)
    } finally {
      await svc.stop()
    }
  })
})
