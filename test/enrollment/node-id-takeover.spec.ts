import { request } from 'node:https'
import { expect } from 'aegir/chai'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { startNodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import { issueSessionCredential } from '../../src/pki/session-cert.ts'
import { pemToDerAll } from '../../src/util/pem.ts'
import { rawGet } from '../daemon/api/fixtures.ts'
import { PASS, createTestMesh } from '../daemon/runtime/harness.ts'
import { adminCred, call, certCount, enrollVia, nodeCsr, nodeKey, startService } from './harness.ts'
import type { Service } from './harness.ts'
import type { NodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import type { TestMesh } from '../daemon/runtime/harness.ts'

/**
 * One live identity per node_id, on a real CA behind the real HTTPS service (real LevelDB): a
 * token that is not a replacement for a node_id never gets a certificate for a node_id someone
 * holds, and a node refuses on its admin API any certificate for its node_id that is not its own
 * (key and PeerId), however it was come by.
 */

function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect({ status: r.status, code: r.json?.error?.code }).to.deep.equal({ status, code })
}

const HOUR = 3600_000

describe('enrollment: one live identity per node_id (NODE_ID_TAKEN)', function () {
  this.timeout(120_000)
  let svc: Service
  before(async () => { svc = await startService() })
  after(async () => { await svc?.cleanup() })

  const token = async (nodeId?: string): Promise<string> =>
    (await svc.service.createToken({ ttlMs: 48 * HOUR, uses: 1, ...(nodeId != null ? { nodeId } : {}) }, svc.clock.now())).token

  it('a squatter with an unbound token cannot get a certificate for a live node_id: 409 NODE_ID_TAKEN, nothing issued or stored, the token use not spent', async () => {
    const victim = await enrollVia(svc, 'victim-1')
    const t = await token()
    const certsBefore = await certCount(svc)
    const auditBefore = (await svc.ca.store.auditLog()).length
    const squatter = await nodeCsr('victim-1')
    // With the node_id in the body, and with the node_id only in the CSR.
    expectError(await call(svc, 'POST', '/v1/enroll', { token: t, csr: squatter.csrPem, node_id: 'victim-1' }), 409, 'NODE_ID_TAKEN')
    const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: squatter.csrPem })
    expectError(r, 409, 'NODE_ID_TAKEN')
    expect(r.json.error.message).to.include('--node-id').and.to.include('--replace')
    expect(await certCount(svc)).to.equal(certsBefore)
    expect((await svc.ca.certificatesOf('victim-1')).map(c => c.serialHex)).to.deep.equal([victim.serial])
    expect((await svc.ca.store.auditLog()).length).to.equal(auditBefore)
    expect(await svc.service.tokens.get(t)).to.include({ usesLeft: 1, used: 0 })
    // The victim is untouched: its certificate is not revoked.
    expect(await svc.ca.store.getRevocation(victim.serial)).to.equal(undefined)
    // The refusal spent nothing: the same token still enrolls a free node_id.
    const free = await nodeCsr('squatter-own')
    expect((await call(svc, 'POST', '/v1/enroll', { token: t, csr: free.csrPem })).status).to.equal(200)
  })

  it('a token bound to the live node_id but not minted as a replacement is refused the same (NODE_ID_TAKEN), unspent', async () => {
    await enrollVia(svc, 'victim-2')
    const t = await token('victim-2')
    const certsBefore = await certCount(svc)
    expectError(await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('victim-2')).csrPem }), 409, 'NODE_ID_TAKEN')
    expect(await certCount(svc)).to.equal(certsBefore)
    expect(await svc.service.tokens.get(t)).to.include({ usesLeft: 1, used: 0 })
  })

  it('two enrollments racing for one free node_id: exactly one certificate; the loser gets NODE_ID_TAKEN and its token use back', async () => {
    const [t1, t2] = [await token(), await token()]
    const [c1, c2] = [await nodeCsr('race-1'), await nodeCsr('race-1')]
    const certsBefore = await certCount(svc)
    const replies = await Promise.all([
      call(svc, 'POST', '/v1/enroll', { token: t1, csr: c1.csrPem }),
      call(svc, 'POST', '/v1/enroll', { token: t2, csr: c2.csrPem })
    ])
    expect(replies.map(r => r.status).sort()).to.deep.equal([200, 409])
    expectError(replies.find(r => r.status !== 200) as any, 409, 'NODE_ID_TAKEN')
    expect(await certCount(svc)).to.equal(certsBefore + 1)
    expect(await svc.ca.certificatesOf('race-1')).to.have.length(1)
    const loser = replies[0].status === 200 ? t2 : t1
    expect(await svc.service.tokens.get(loser)).to.include({ usesLeft: 1, used: 0 })
  })

  it('a node_id whose certificates have all expired, or were revoked by serial, enrolls again with an unbound token', async () => {
    const expired = await enrollVia(svc, 'gone-1')
    const revoked = await enrollVia(svc, 'gone-2')
    await svc.service.revoke({ serialHex: revoked.serial, reason: 'keyCompromise' }, svc.clock.now())
    expect((await call(svc, 'POST', '/v1/enroll', { token: await token(), csr: (await nodeCsr('gone-2')).csrPem })).status).to.equal(200)
    // Past the 24 h certificate (the token lives 48 h).
    const t = await token()
    svc.clock.advance(25 * HOUR)
    try {
      const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('gone-1')).csrPem })
      expect(r.status).to.equal(200)
      expect(r.json.serial).to.not.equal(expired.serial)
    } finally {
      svc.clock.advance(-25 * HOUR)
    }
  })

  it('a node_id blocked by revocation stays NODE_REVOKED (403) for an unbound token, not NODE_ID_TAKEN', async () => {
    await enrollVia(svc, 'blocked-1')
    await svc.service.revoke({ nodeId: 'blocked-1' }, svc.clock.now())
    const t = await token()
    const certsBefore = await certCount(svc)
    expectError(await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('blocked-1')).csrPem }), 403, 'NODE_REVOKED')
    expect(await certCount(svc)).to.equal(certsBefore)
    expect(await svc.service.tokens.get(t)).to.include({ usesLeft: 1, used: 0 })
  })

  it('rotation and renewal stay open to the live holder itself (it proves it is the node)', async () => {
    const holder = await enrollVia(svc, 'holder-1')
    const next = await nodeCsr('holder-1')
    const r = await call(svc, 'POST', '/v1/rotate', { csr: next.csrPem, current_cert_serial: holder.serial }, { client: holder })
    expect(r.status).to.equal(200)
    expect(r.json.node_id).to.equal('holder-1')
  })
})

describe('node admin API: a certificate for the node\'s node_id that is not its own', function () {
  this.timeout(120_000)
  let mesh: TestMesh
  let victim: NodeRuntime

  before(async () => {
    mesh = await createTestMesh('squat-api')
    victim = await startNodeRuntime({
      dir: await mesh.enroll('victim-api'),
      passphrase: PASS,
      crl: false,
      runFile: false,
      api: { host: '127.0.0.1', port: 0 },
      options: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false } }
    })
  })

  after(async () => {
    await victim?.stop()
    await mesh?.cleanup()
  })

  it('the squatter reads nothing (inbox, peers, node) and sends nothing as the victim: 401 CLIENT_CERT_WRONG_ROLE; the victim itself is served', async () => {
    // The enrollment route refuses such a certificate (NODE_ID_TAKEN), but one issued by other
    // means (`ca issue` with the CA key, a careless operator) must still not make its holder the node.
    const k = await nodeKey()
    const issued = await mesh.svc.ca.issue({ csr: await createCsr(k.handle, { nodeId: 'victim-api', peerId: k.peerId }), now: mesh.svc.clock.now(), nodeId: 'victim-api' })
    const chain = [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')]
    const session = await issueSessionCredential({ signer: k.handle.signer(), nodeChain: chain, now: mesh.svc.clock.now(), validityMs: 300_000 })
    const url = victim.apiUrl as string
    const own = await issueSessionCredential({ signer: victim.dir.identity.signer(), nodeChain: victim.dir.chain, now: mesh.svc.clock.now(), validityMs: 300_000 })
    const ownView = async (): Promise<unknown> => {
      const r = await rawGet(url, '/v1/bundles', own)
      expect(r.status).to.equal(200)
      return r.json
    }
    const inboxBefore = await ownView()
    for (const path of ['/v1/bundles', '/v1/mesh/peers', '/v1/node', '/v1/mesh/gossip']) {
      const r = await rawGet(url, path, session)
      expect({ path, status: r.status, code: r.json?.error?.code }).to.deep.equal({ path, status: 401, code: 'CLIENT_CERT_WRONG_ROLE' })
    }
    // Sending as the victim: refused before any handler runs, so nothing is queued.
    const sent = await postRaw(url, '/v1/bundles', { destination: 'someone', ttl_sec: 60, payload: 'aGk=' }, session)
    expect({ status: sent.status, code: sent.json?.error?.code }).to.deep.equal({ status: 401, code: 'CLIENT_CERT_WRONG_ROLE' })
    expect(await ownView()).to.deep.equal(inboxBefore)
    // An admin certificate is still admitted (the check is on node certificates only).
    const admin = await adminCred(mesh.svc)
    expect((await rawGet(url, '/v1/node', admin)).status).to.equal(200)
  })
})

/** A JSON POST with no server check (the test judges only the answer). */
async function postRaw (url: string, path: string, body: unknown, cred: { certPem: string, keyPem: string }): Promise<{ status: number, json: any }> {
  const payload = Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), {
      method: 'POST',
      rejectUnauthorized: false,
      agent: false,
      minVersion: 'TLSv1.3',
      signal: AbortSignal.timeout(10_000),
      headers: { 'content-type': 'application/json', 'content-length': payload.length },
      cert: cred.certPem,
      key: cred.keyPem
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('end', () => {
        let json: any
        try { json = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch {}
        resolve({ status: res.statusCode ?? 0, json })
      })
    })
    req.on('error', reject)
    req.end(payload)
  })
}
