import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../../src/ca/index.ts'
import { enrollNode } from '../../../src/daemon/enroll/enroll-node.ts'
import { issueServerTls } from '../../../src/enrollment/server-cert.ts'
import { MIN_SCRYPT_LOG_N } from '../../../src/identity/key-file.ts'
import type { Server } from 'node:https'
import type { AddressInfo } from 'node:net'

/**
 * `node enroll` tells apart the three ways the pinned HTTPS exchange fails, each with its own
 * code, and stores nothing in any of them: a server whose certificate does not chain to the
 * pinned root (TLS_UNTRUSTED), one that chains but does not name the URL's host (NAME_MISMATCH),
 * and nothing listening (UNREACHABLE). Real TLS 1.3 servers on loopback, certificates from real CAs.
 */
describe('node enroll: trust failure, name mismatch and unreachable are three codes', function () {
  this.timeout(60_000)
  const PASS = 'tls failure spec pass'
  let base: string
  let ca: MeshCa
  let other: MeshCa
  const servers: Server[] = []

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-tlsfail-'))
    ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    other = await MeshCa.init({ dir: join(base, 'other'), passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
  })
  after(async () => {
    for (const s of servers) { s.closeAllConnections(); s.close() }
    await ca.close()
    await other.close()
    await rm(base, { recursive: true, force: true })
  })

  /** An HTTPS server on 127.0.0.1 with a certificate from `issuer` for `names`; it answers nothing useful. */
  async function serve (issuer: MeshCa, names: { dnsNames: string[], ipAddresses: string[] }): Promise<string> {
    const tls = await issueServerTls(issuer, names, new Date())
    const server = createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.3' }, (_req, res) => { res.writeHead(500).end() })
    servers.push(server)
    await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  async function enrollAgainst (caUrl: string, dirName: string): Promise<{ err: any, files: string[] }> {
    const dir = join(base, dirName)
    const err = await enrollNode({ dir, caUrl, caCertPem: ca.rootPem, token: 'dmt1_' + 'A'.repeat(43), nodeId: 'n1', passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, timeoutMs: 5000 }).then(() => undefined, (e: unknown) => e)
    const files = await readdir(dir).catch(() => [] as string[])
    return { err, files }
  }

  it('tls-untrusted: a server whose certificate chains to another CA is TLS_UNTRUSTED, naming --ca-cert; nothing stored', async () => {
    const url = await serve(other, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
    const { err, files } = await enrollAgainst(url, 'untrusted')
    expect(err?.code).to.equal('TLS_UNTRUSTED')
    expect(err.message).to.include('--ca-cert')
    expect(files).to.not.include('node.json')
  })

  it('name-mismatch: a certificate from the right CA that does not name 127.0.0.1 is NAME_MISMATCH, naming --server-name; nothing stored', async () => {
    const url = await serve(ca, { dnsNames: ['ca.example.net'], ipAddresses: [] })
    const { err, files } = await enrollAgainst(url, 'mismatch')
    expect(err?.code).to.equal('NAME_MISMATCH')
    expect(err.message).to.include('127.0.0.1').and.include('--server-name 127.0.0.1')
    expect(files).to.not.include('node.json')
  })

  it('unreachable: nothing listening is UNREACHABLE; nothing stored', async () => {
    const url = await serve(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
    const s = servers.pop() as Server
    await new Promise<void>(resolve => { s.close(() => { resolve() }) })
    const { err, files } = await enrollAgainst(url, 'unreachable')
    expect(err?.code).to.equal('UNREACHABLE')
    expect(files).to.not.include('node.json')
  })
})
