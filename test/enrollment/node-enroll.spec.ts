import { readFile, stat } from 'node:fs/promises'
import { createServer } from 'node:https'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { nodePaths } from '../../src/daemon/enroll/node-files.ts'
import { issueServerTls, serverNames } from '../../src/enrollment/server-cert.ts'
import { loadHostKey } from '../../src/identity/host-key.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { SoftwareKeyStore } from '../../src/identity/software-key-store.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { bytesEqual } from '../../src/pki/signature.ts'
import { pemToDer } from '../../src/util/pem.ts'
import { call, nodeCsr, startService } from './harness.ts'
import type { Service } from './harness.ts'
import type { Server } from 'node:https'
import type { AddressInfo } from 'node:net'

const NODE_PASS = 'node passphrase'

async function rejects (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('enrollment: enrollNode (the node side of `node enroll`)', () => {
  let svc: Service
  before(async () => { svc = await startService() })
  after(async () => { await svc.cleanup() })

  const token = async (nodeId?: string): Promise<string> =>
    (await svc.service.createToken({ ttlMs: 60_000, uses: 1, ...(nodeId != null ? { nodeId } : {}) }, svc.clock.now())).token
  const opts = (dir: string, t: string, nodeId: string): Parameters<typeof enrollNode>[0] =>
    ({ dir, caUrl: svc.url, caCertPem: svc.rootPem, token: t, nodeId, passphrase: NODE_PASS, scryptLogN: MIN_SCRYPT_LOG_N, now: svc.clock.now })

  it('stores a certificate for its own identity key, bound to its libp2p host key PeerId', async () => {
    const dir = join(svc.base, 'n-ok')
    const { node } = await enrollNode(opts(dir, await token('n-ok'), 'n-ok'))
    const paths = nodePaths(dir)
    const cert = parseCertificate(pemToDer(await readFile(paths.cert, 'utf8'), 'CERTIFICATE'))
    const identity = await new SoftwareKeyStore({ dir: paths.keys, passphrase: NODE_PASS }).load('identity')
    expect(bytesEqual(cert.spki, identity.publicKeySpki)).to.equal(true)
    const host = await loadHostKey(paths.hostKey, NODE_PASS)
    expect(host.peerId.toString()).to.equal(node.peer_id)
    expect(host.key.type).to.equal('Ed25519')
    expect((await stat(paths.identityKey)).mode & 0o777).to.equal(0o600)
    expect(await readFile(paths.root, 'utf8')).to.equal(svc.rootPem)
  })

  it('a refused enrollment leaves nothing behind (no NODEDIR, no keys); the retry enrolls with keys of its own', async () => {
    const dir = join(svc.base, 'n-retry')
    const err = await rejects(enrollNode(opts(dir, 'dmt1_' + 'C'.repeat(43), 'n-retry')))
    expect(err.name).to.equal('NodeEnrollError')
    expect(err.code).to.equal('REFUSED')
    expect(err.serverCode).to.equal('TOKEN_REJECTED')
    expect(err.status).to.equal(401)
    expect(await stat(dir).then(() => true, () => false)).to.equal(false)
    const { node } = await enrollNode(opts(dir, await token(), 'n-retry'))
    expect((await loadHostKey(nodePaths(dir).hostKey, NODE_PASS)).peerId.toString()).to.equal(node.peer_id)
  })

  it('refuses a CA file that is not PEM certificates (BAD_CA_CERT) and a bad node_id (INVALID_NODE_ID)', async () => {
    expect((await rejects(enrollNode({ ...opts(join(svc.base, 'n-bad'), await token(), 'n-bad'), caCertPem: 'garbage' }))).code).to.equal('BAD_CA_CERT')
    expect((await rejects(enrollNode(opts(join(svc.base, 'n-bad2'), await token(), '../evil')))).code).to.equal('INVALID_NODE_ID')
  })

  describe('against a CA endpoint that answers with someone else\'s certificate', () => {
    let fake: Server
    let fakeUrl: string
    before(async () => {
      // A server with a genuine mesh TLS certificate that replays another node's enrollment answer.
      const { token } = await svc.service.createToken({ ttlMs: 60_000, uses: 1 }, svc.clock.now())
      const other = await call(svc, 'POST', '/v1/enroll', { token, csr: (await nodeCsr('n-fake')).csrPem })
      const tls = await issueServerTls(svc.ca, serverNames('127.0.0.1'), svc.clock.now())
      fake = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
        req.resume()
        req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }).end(other.body) })
      })
      await new Promise<void>(resolve => { fake.listen(0, '127.0.0.1', resolve) })
      fakeUrl = `https://127.0.0.1:${(fake.address() as AddressInfo).port}`
    })
    after(async () => { await new Promise(resolve => { fake.close(resolve) }) })

    it('refuses the answer (BAD_RESPONSE) and stores nothing', async () => {
      const dir = join(svc.base, 'n-fake')
      const err = await rejects(enrollNode({ ...opts(dir, await token(), 'n-fake'), caUrl: fakeUrl }))
      expect(err.name).to.equal('NodeEnrollError')
      expect(err.code).to.equal('BAD_RESPONSE')
      expect(await stat(nodePaths(dir).nodeJson).then(() => true, () => false)).to.equal(false)
      expect(await stat(nodePaths(dir).cert).then(() => true, () => false)).to.equal(false)
      expect(await stat(dir).then(() => true, () => false)).to.equal(false)
    })
  })
})
