import { execFile } from 'node:child_process'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { startCaMeshPublisher } from '../../src/daemon/ca-mesh-publisher.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { readNodeFile } from '../../src/daemon/enroll/node-files.ts'
import { startNodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import { startAdminSocket } from '../../src/enrollment/admin-socket.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { runMain } from '../cli/run-main.ts'
import { PASS, createTestMesh } from '../daemon/runtime/harness.ts'
import { eventually } from '../node/fixtures.ts'
import { call, certCount, enrollVia, nodeCsr } from './harness.ts'
import type { CaMeshPublisher } from '../../src/daemon/ca-mesh-publisher.ts'
import type { NodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import type { AdminSocket } from '../../src/enrollment/admin-socket.ts'
import type { CliRun } from '../cli/run-main.ts'
import type { TestMesh } from '../daemon/runtime/harness.ts'

const run = promisify(execFile)

/**
 * Replacement tokens (`ca token --node-id X --replace`): the one way besides proving to be the
 * node (rotate, renew) to get a certificate for a node_id someone holds. The enrollment revokes
 * the holder's live certificates (reason superseded) in the issuance's own LevelDB batch, and
 * the new CRL leaves at once by every path: GET /v1/crl, and the CA's mesh node (push and
 * gossip), so peers close their connections to the old holder. Real CA, real HTTPS, real QUIC.
 */
describe('enrollment: replacement tokens supersede the holder of a node_id', function () {
  this.timeout(180_000)
  let mesh: TestMesh
  let admin: AdminSocket
  let publisher: CaMeshPublisher | undefined
  const runtimes: NodeRuntime[] = []

  before(async () => {
    mesh = await createTestMesh('replace')
    admin = await startAdminSocket({ dir: mesh.svc.dir, ops: mesh.svc.service, now: mesh.svc.clock.now })
  })

  after(async () => {
    for (const r of runtimes) { await r.stop() }
    await publisher?.stop()
    await admin?.close()
    await mesh?.cleanup()
  })

  /** `dadm-mesh ca token ...` in this process, through the admin socket (the CA's store is held here). */
  async function cli (argv: string[]): Promise<CliRun> {
    return runMain(argv, { DADM_MESH_PASSPHRASE: PASS })
  }

  it('ca token --replace without --node-id is a usage error (exit 2) naming the flags; no token is stored', async () => {
    const before = (await mesh.svc.service.tokens.hashes()).length
    const r = await cli(['ca', 'token', '--dir', mesh.svc.dir, '--replace'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.include('--replace').and.to.include('--node-id')
    expect(r.stdout).to.equal('')
    expect((await mesh.svc.service.tokens.hashes()).length).to.equal(before)
    // The service refuses it too, whoever asks (INVALID_TOKEN_PARAMS).
    const err = await mesh.svc.service.createToken({ ttlMs: 60_000, uses: 1, replace: true }, mesh.svc.clock.now()).catch(e => e)
    expect(err).to.include({ name: 'EnrollmentError', code: 'INVALID_TOKEN_PARAMS' })
    expect((await mesh.svc.service.tokens.hashes()).length).to.equal(before)
  })

  it('a replacement token for one node_id enrolls no other (TOKEN_NODE_MISMATCH, unspent)', async () => {
    const r = await cli(['ca', 'token', '--dir', mesh.svc.dir, '--node-id', 'only-this', '--replace', '--json'])
    expect(r.code).to.equal(0)
    const t = JSON.parse(r.stdout)
    expect(t).to.include({ node_id: 'only-this', replace: true })
    const certs = await certCount(mesh.svc)
    const reply = await call(mesh.svc, 'POST', '/v1/enroll', { token: t.token, csr: (await nodeCsr('another')).csrPem })
    expect({ status: reply.status, code: reply.json?.error?.code }).to.deep.equal({ status: 403, code: 'TOKEN_NODE_MISMATCH' })
    expect(await certCount(mesh.svc)).to.equal(certs)
    expect(await mesh.svc.service.tokens.get(t.token)).to.include({ usesLeft: 1, used: 0, replace: true })
  })

  it('a replacement for a node_id nobody holds simply enrolls it (nothing to supersede)', async () => {
    const t = JSON.parse((await cli(['ca', 'token', '--dir', mesh.svc.dir, '--node-id', 'fresh-r', '--replace', '--json'])).stdout)
    const revokedBefore = (await mesh.svc.ca.store.revocations()).length
    const reply = await call(mesh.svc, 'POST', '/v1/enroll', { token: t.token, csr: (await nodeCsr('fresh-r')).csrPem })
    expect(reply.status).to.equal(200)
    expect((await mesh.svc.ca.store.revocations()).length).to.equal(revokedBefore)
  })

  it('the replacement revokes the old holder (CRL: its serial, reason superseded) in the issuance\'s batch, and its live connections close', async () => {
    // The CA's own mesh node, which pushes and gossips each new CRL; a keeper linked to it; the old holder linked to the keeper.
    publisher = await startCaMeshPublisher({
      service: mesh.svc.service,
      dir: join(mesh.base, 'ca-mesh'),
      passphrase: PASS,
      caUrl: mesh.svc.url,
      scryptLogN: MIN_SCRYPT_LOG_N,
      options: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false } }
    })
    const caAddr = publisher.runtime.node.getMultiaddrs()[0].toString()
    const start = async (dir: string, bootstrap: string[]): Promise<NodeRuntime> => {
      const r = await startNodeRuntime({
        dir,
        passphrase: PASS,
        api: false,
        crl: false, // no CRL poll: only the CA node's push and gossip can carry the revocation
        runFile: false,
        options: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false }, bootstrap }
      })
      runtimes.push(r)
      return r
    }
    const keeper = await start(await mesh.enroll('keeper-r'), [caAddr])
    const oldDir = await mesh.enroll('site-r')
    const oldHolder = await start(oldDir, [keeper.node.getMultiaddrs()[0].toString()])
    const oldSerial = (await readNodeFile(oldDir))?.serial as string
    const oldPeer = oldHolder.node.peerId
    await eventually(() => keeper.node.libp2p.getConnections(oldPeer).length > 0 && keeper.node.peers.has(oldPeer.toString()) &&
      publisher?.runtime.node.libp2p.getConnections(keeper.node.peerId).length !== 0, 60_000)

    const crls: number[] = []
    const removeListener = mesh.svc.service.onRevocationCrl(({ crlNumber }) => { crls.push(crlNumber) })
    const auditBefore = (await mesh.svc.ca.store.auditLog()).length
    try {
      // The operator mints the replacement through the CLI; the new machine enrolls with it.
      const minted = await cli(['ca', 'token', '--dir', mesh.svc.dir, '--node-id', 'site-r', '--replace'])
      expect(minted.code).to.equal(0)
      expect(minted.stderr).to.include('bound to node_id site-r').and.to.include('replaces its current holder')
      const newDir = join(mesh.base, 'site-r-new')
      const { node } = await enrollNode({ dir: newDir, caUrl: mesh.svc.url, caCertPem: mesh.svc.rootPem, token: minted.stdout.trim(), nodeId: 'site-r', passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, timeoutMs: 10_000 })
      expect(node.serial).to.not.equal(oldSerial)

      // One batch: the issuance's audit entry names the superseded serial, and no separate revoke entry exists.
      const audit = (await mesh.svc.ca.store.auditLog({ fromSeq: auditBefore })).filter(e => e.action !== 'crl')
      expect(audit.map(e => e.action)).to.deep.equal(['token-create', 'issue'])
      expect(audit[1].fields).to.include({ serial: node.serial, node_id: 'site-r', superseded: oldSerial })
      expect(await mesh.svc.ca.store.getRevocation(oldSerial)).to.include({ reason: 'superseded', nodeId: 'site-r' })
      expect(await mesh.svc.ca.store.getRevocation(node.serial)).to.equal(undefined)
      expect(crls).to.have.length(1)

      // GET /v1/crl lists the old serial as superseded; openssl reads it the same.
      const reply = await call(mesh.svc, 'GET', '/v1/crl')
      const crl = parseCrl(new Uint8Array(reply.body))
      expect(Number(crl.crlNumber)).to.equal(crls[0])
      expect(crl.revoked.get(oldSerial)?.reason).to.equal('superseded')
      expect(crl.revoked.has(node.serial)).to.equal(false)
      const crlFile = join(mesh.base, 'after-replace.crl')
      await writeFile(crlFile, reply.body)
      if (await stat('/usr/bin/openssl').then(() => true, () => false)) {
        const { stdout } = await run('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text'])
        expect(stdout.toUpperCase()).to.include(oldSerial.toUpperCase())
        expect(stdout).to.include('Superseded')
      }

      // The keeper got the CRL from the CA's node and cut the old holder off.
      await eventually(() => keeper.node.libp2p.getConnections(oldPeer).length === 0 && !keeper.node.peers.has(oldPeer.toString()), 30_000)
      expect(keeper.crl.newestNumber).to.equal(BigInt(crls[0]))
      // And the old holder cannot come back.
      await expect(oldHolder.node.dial(keeper.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) })).to.eventually.be.rejected()
    } finally {
      removeListener()
    }
  })

  it('an unbound token after the replacement is refused again (NODE_ID_TAKEN): the new holder is live', async () => {
    const { token } = await mesh.svc.service.createToken({ ttlMs: 60_000, uses: 1 }, mesh.svc.clock.now())
    const reply = await call(mesh.svc, 'POST', '/v1/enroll', { token, csr: (await nodeCsr('site-r')).csrPem })
    expect({ status: reply.status, code: reply.json?.error?.code }).to.deep.equal({ status: 409, code: 'NODE_ID_TAKEN' })
    // enrollVia (an unbound token) still enrolls a free node_id on this CA.
    expect((await enrollVia(mesh.svc, 'free-after')).serial).to.be.a('string')
  })
})
