import { spawn } from 'node:child_process'
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { AdminSocketClient } from '../../src/enrollment/admin-client.ts'
import { adminSocketPath, startAdminSocket } from '../../src/enrollment/admin-socket.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { pemToDer } from '../../src/util/pem.ts'
import { adminCsr, call, enrollVia, nodeCsr, startService } from './harness.ts'
import type { Service } from './harness.ts'

async function rejects (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('enrollment: admin socket (operator commands while the service holds the store)', () => {
  let svc: Service
  let socket: Awaited<ReturnType<typeof startAdminSocket>>
  let client: AdminSocketClient

  before(async () => {
    svc = await startService()
    socket = await startAdminSocket({ dir: svc.dir, ops: svc.service, now: svc.clock.now })
    const c = await AdminSocketClient.connect(svc.dir)
    if (c == null) { throw new Error('no client') }
    client = c
  })
  after(async () => {
    await socket.close()
    await svc.cleanup()
  })

  it('is a 0600 socket at DIR/admin.sock', async () => {
    const st = await stat(adminSocketPath(svc.dir))
    expect(st.isSocket()).to.equal(true)
    expect(st.mode & 0o777).to.equal(0o600)
  })

  it('creates a token the HTTPS service then accepts', async () => {
    const t = await client.createToken({ ttlMs: 60_000, uses: 1, nodeId: 'sock-1' })
    expect(t.nodeId).to.equal('sock-1')
    const r = await call(svc, 'POST', '/v1/enroll', { token: t.token, csr: (await nodeCsr('sock-1')).csrPem })
    expect(r.status).to.equal(200)
  })

  it('revokes and serves the CRL listing the revocation', async () => {
    const node = await enrollVia(svc, 'sock-2')
    expect(await client.revoke({ serialHex: node.serial, reason: 'superseded' })).to.deep.equal({ serials: [node.serial] })
    const crl = parseCrl(pemToDer(await client.crlPem(), 'X509 CRL'))
    expect(crl.revoked.get(node.serial)?.reason).to.equal('superseded')
    expect(parseCrl(pemToDer(await client.crlPem(undefined, 'root'), 'X509 CRL')).crlNumber).to.be.a('bigint')
  })

  it('issues an admin certificate from a CSR; clears a node revocation', async () => {
    const csr = await adminCsr('sock-ops')
    const cert = await client.issueAdminCert({ csrPem: csr.csrPem, name: 'sock-ops' })
    expect(cert.certificatePem).to.include('BEGIN CERTIFICATE')
    // sock-3 was never issued a certificate: blocking it takes blockUnknown.
    await client.revoke({ nodeId: 'sock-3', blockUnknown: true })
    expect(await client.clearNodeRevocation('sock-3')).to.equal(true)
    expect(await client.clearNodeRevocation('sock-3')).to.equal(false)
  })

  it('carries catalogue errors back: unknown serial is UNKNOWN_SERIAL, a bad node_id is INVALID_NODE_ID', async () => {
    const err = await rejects(client.revoke({ serialHex: '7f' + '11'.repeat(15) }))
    expect(err.name).to.equal('EnrollmentError')
    expect(err.code).to.equal('UNKNOWN_SERIAL')
    const bad = await rejects(client.createToken({ ttlMs: 60_000, uses: 1, nodeId: '../x' }))
    expect(bad.code).to.equal('INVALID_NODE_ID')
  })

  it('a second service on the same directory is refused: SOCKET_IN_USE', async () => {
    const err = await rejects(startAdminSocket({ dir: svc.dir, ops: svc.service }))
    expect(err.name).to.equal('AdminSocketError')
    expect(err.code).to.equal('SOCKET_IN_USE')
  })
})

describe('enrollment: admin socket lifecycle', () => {
  let svc: Service
  before(async () => { svc = await startService() })
  after(async () => { await svc.cleanup() })

  it('connect finds no service when there is no socket', async () => {
    expect(await AdminSocketClient.connect(svc.dir)).to.equal(undefined)
  })

  it('replaces a stale socket left by a crashed service', async () => {
    // A process binds the socket and is killed with SIGKILL: the socket file stays, nobody listens.
    const path = adminSocketPath(svc.dir)
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise(resolve => child.once('exit', resolve))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('child did not bind')) }, 10_000)
      child.stdout?.once('data', () => { clearTimeout(timer); resolve() })
    })
    child.kill('SIGKILL')
    await exited
    expect((await stat(path)).isSocket()).to.equal(true)
    expect(await AdminSocketClient.connect(svc.dir)).to.equal(undefined)
    const s = await startAdminSocket({ dir: svc.dir, ops: svc.service })
    try {
      expect(await AdminSocketClient.connect(svc.dir)).to.be.instanceOf(AdminSocketClient)
    } finally {
      await s.close()
    }
  })

  it('never replaces a file that is not a socket: NOT_A_SOCKET', async () => {
    const dir = join(svc.base, 'plainfile')
    await mkdir(dir, { recursive: true })
    await writeFile(adminSocketPath(dir), 'precious')
    const err = await rejects(startAdminSocket({ dir, ops: svc.service }))
    expect(err.code).to.equal('NOT_A_SOCKET')
  })

  it('refuses a directory whose socket path would not fit: SOCKET_PATH_TOO_LONG', async () => {
    const err = await rejects(startAdminSocket({ dir: join(svc.base, 'x'.repeat(120)), ops: svc.service }))
    expect(err.code).to.equal('SOCKET_PATH_TOO_LONG')
  })
})
