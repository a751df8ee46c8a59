import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { httpsRequestPinned } from '../../src/daemon/enroll/https-json.ts'
import { adminSocketPath } from '../../src/enrollment/admin-socket.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { nodeIdentity } from '../../src/pki/node-identity.ts'
import { verifyChain } from '../../src/pki/verify-chain.ts'
import { pemToDer, pemToDerAll } from '../../src/util/pem.ts'
import { nodeCsr } from '../enrollment/harness.ts'
import { runMain } from './run-main.ts'
import { startServe } from './serve-process.ts'
import type { CliRun } from './run-main.ts'

const PASS = 'ca serve cli pass'
const ENV = { DADM_MESH_PASSPHRASE: PASS }

/** Runs the CLI in-process with captured streams. */
async function run (argv: string[], env: Record<string, string | undefined> = ENV): Promise<CliRun> {
  return runMain(argv, env)
}

const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false)

describe('cli: ca serve and the commands that work while it runs', function () {
  let base: string
  let dir: string
  let serve: Awaited<ReturnType<typeof startServe>> | undefined

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-serve-'))
    dir = join(base, 'ca')
    // The CA is created with the floor scrypt cost so that every open in this suite is quick.
    const ca = await MeshCa.init({ dir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N, config: { gossip_fanout: 5 } })
    await ca.close()
    serve = await startServe(dir, ENV)
  })

  after(async () => {
    if (serve != null && serve.child.exitCode == null) {
      serve.child.kill('SIGTERM')
      await serve.exited
    }
    await rm(base, { recursive: true, force: true })
  })

  it('the admin socket is 0600 in the CA directory', async () => {
    const st = await stat(adminSocketPath(dir))
    expect(st.isSocket()).to.equal(true)
    expect(st.mode & 0o777).to.equal(0o600)
  })

  it('ca token works while ca serve holds the store (through the socket), 256+ random bits, printed once', async () => {
    const r = await run(['ca', 'token', '--dir', dir, '--node-id', 'cli-node', '--ttl', '10m'])
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stderr).to.include('created by the running service')
    const token = r.stdout.trim()
    expect(token).to.match(/^dmt1_[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(token.slice(5), 'base64url')).to.have.length(32)
    expect(r.stderr).to.not.include(token)
  })

  it('node enroll: keys, CSR with PeerId, pinned HTTPS, and cert, chain, root, config in NODEDIR', async () => {
    const token = (await run(['ca', 'token', '--dir', dir, '--node-id', 'cli-node'])).stdout.trim()
    const nodeDir = join(base, 'node1')
    const r = await run(['node', 'enroll', '--dir', nodeDir, '--ca-url', serve?.url as string, '--ca-cert', join(dir, 'root.pem'), '--token', token, '--node-id', 'cli-node'])
    expect(r.code, r.stderr).to.equal(0)
    // The default key store is auto; with no token PIN and no TPM here it says why it fell back.
    expect(r.stdout).to.include('asking for node_id cli-node (from --node-id)')
    expect(r.stdout).to.match(/key store: auto chose software: no PKCS#11 token opened with the PIN source and no TPM/)
    for (const f of ['node.json', 'cert.pem', 'chain.pem', 'root.pem', 'keys/identity.key', 'keys/host.key']) {
      expect(await exists(join(nodeDir, f)), f).to.equal(true)
    }
    expect((await stat(join(nodeDir, 'keys/host.key'))).mode & 0o777).to.equal(0o600)
    const node = JSON.parse(await readFile(join(nodeDir, 'node.json'), 'utf8'))
    expect(node.node_id).to.equal('cli-node')
    expect(node.config.gossip_fanout).to.equal(5)
    const cert = parseCertificate(pemToDer(await readFile(join(nodeDir, 'cert.pem'), 'utf8'), 'CERTIFICATE'))
    expect(nodeIdentity(cert)).to.deep.equal({ nodeId: 'cli-node', peerId: node.peer_id })
    verifyChain(new Date(), cert, pemToDerAll(await readFile(join(nodeDir, 'chain.pem'), 'utf8'), 'CERTIFICATE'), pemToDerAll(await readFile(join(nodeDir, 'root.pem'), 'utf8'), 'CERTIFICATE'), [], {})
    // Enrolling again into the same directory is refused; nothing there is touched.
    const again = await run(['node', 'enroll', '--dir', nodeDir, '--ca-url', serve?.url as string, '--ca-cert', join(dir, 'root.pem'), '--token', token])
    expect(again.code).to.equal(1)
    expect(again.stderr).to.include('ALREADY_ENROLLED')
  })

  it('default-node-id: node enroll without --node-id asks for this machine\'s hostname and says so before it asks', async () => {
    const token = (await run(['ca', 'token', '--dir', dir])).stdout.trim()
    const nodeDir = join(base, 'node-hostname')
    const r = await run(['node', 'enroll', '--dir', nodeDir, '--ca-url', serve?.url as string, '--ca-cert', join(dir, 'root.pem'), '--token', token])
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout).to.include(`asking for node_id ${hostname()} (this machine's hostname, the default; --node-id sets another)`)
    expect(JSON.parse(await readFile(join(nodeDir, 'node.json'), 'utf8')).node_id).to.equal(hostname())
  })

  it('node enroll with a used token exits 1 with the server\'s TOKEN_REJECTED', async () => {
    const token = (await run(['ca', 'token', '--dir', dir])).stdout.trim()
    expect((await run(['node', 'enroll', '--dir', join(base, 'node2'), '--ca-url', serve?.url as string, '--ca-cert', join(dir, 'root.pem'), '--token', token, '--node-id', 'n2'])).code).to.equal(0)
    const r = await run(['node', 'enroll', '--dir', join(base, 'node3'), '--ca-url', serve?.url as string, '--ca-cert', join(dir, 'root.pem'), '--token', token, '--node-id', 'n3'])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.include('REFUSED: TOKEN_REJECTED (HTTP 401)')
    expect(await exists(join(base, 'node3', 'node.json'))).to.equal(false)
  })

  it('node enroll pinned to a CA the server does not chain to fails TLS_UNTRUSTED (not UNREACHABLE), nothing stored', async () => {
    const otherDir = join(base, 'other-ca')
    const other = await MeshCa.init({ dir: otherDir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    await other.close()
    const token = (await run(['ca', 'token', '--dir', dir])).stdout.trim()
    const r = await run(['node', 'enroll', '--dir', join(base, 'node4'), '--ca-url', serve?.url as string, '--ca-cert', join(otherDir, 'root.pem'), '--token', token, '--node-id', 'n4'])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.include('TLS_UNTRUSTED').and.include('--ca-cert')
    expect(r.stderr).to.not.include('UNREACHABLE')
    expect(await exists(join(base, 'node4', 'node.json'))).to.equal(false)
  })

  it('ca admin-cert, ca revoke and ca crl work while ca serve runs; the admin cert revokes over mTLS', async () => {
    const certFile = join(base, 'ops.pem')
    const keyFile = join(base, 'ops.key')
    // The admin key has a passphrase of its own (never the CA's), in a file only its owner reads.
    const keyPass = 'ops key passphrase, not the CA one'
    const keyPassFile = join(base, 'ops.pass')
    await writeFile(keyPassFile, keyPass + '\n', { mode: 0o600 })
    const a = await run(['ca', 'admin-cert', '--dir', dir, '--name', 'ops', '--out-cert', certFile, '--out-key', keyFile, '--key-passphrase-file', keyPassFile])
    expect(a.code, a.stderr).to.equal(0)
    expect((await stat(keyFile)).mode & 0o777).to.equal(0o600)
    expect(await readFile(keyFile, 'utf8')).to.include('ENCRYPTED PRIVATE KEY')
    // Enroll two nodes; revoke one through /v1/revoke with the admin cert, one with `ca revoke`.
    const serials: string[] = []
    for (const id of ['victim-1', 'victim-2']) {
      const token = (await run(['ca', 'token', '--dir', dir])).stdout.trim()
      expect((await run(['node', 'enroll', '--dir', join(base, id), '--ca-url', serve?.url as string, '--ca-cert', join(dir, 'root.pem'), '--token', token, '--node-id', id])).code).to.equal(0)
      serials.push(JSON.parse(await readFile(join(base, id, 'node.json'), 'utf8')).serial)
    }
    const reply = await httpsRequestPinned('POST', `${serve?.url as string}/v1/revoke`, Buffer.from(JSON.stringify({ serial: serials[0] })), {
      caPem: await readFile(join(dir, 'root.pem'), 'utf8'),
      clientCertPem: await readFile(certFile, 'utf8'),
      clientKeyPem: await readFile(keyFile, 'utf8'),
      clientKeyPassphrase: keyPass
    })
    expect(reply.status).to.equal(204)
    const rv = await run(['ca', 'revoke', '--dir', dir, '--serial', serials[1], '--reason', 'superseded'])
    expect(rv.code, rv.stderr).to.equal(0)
    expect(rv.stdout).to.equal(`revoked ${serials[1]} (superseded)\n`)
    const crl = await run(['ca', 'crl', '--dir', dir])
    expect(crl.code, crl.stderr).to.equal(0)
    const listed = parseCrl(pemToDer(crl.stdout, 'X509 CRL')).revoked
    expect(listed.has(serials[0]) && listed.has(serials[1])).to.equal(true)
  })

  it('no-false-ca-busy: ca issue while ca serve holds the store is signed by the service, not refused CA_BUSY', async () => {
    const csrFile = join(base, 'busy.csr')
    await writeFile(csrFile, (await nodeCsr('busy')).csrPem)
    const r = await run(['ca', 'issue', '--dir', dir, '--csr', csrFile, '--node-id', 'busy'])
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stderr).to.not.include('CA_BUSY')
    const cert = parseCertificate(pemToDer(r.stdout, 'CERTIFICATE'))
    expect(nodeIdentity(cert).nodeId).to.equal('busy')
  })

  it('wrong-passphrase-via-service: ca token and ca issue with a wrong --passphrase-file are refused WRONG_PASSPHRASE while ca serve runs; nothing minted', async () => {
    const wrong = join(base, 'wrong.pass')
    await writeFile(wrong, 'not the CA passphrase', { mode: 0o600 })
    const t = await run(['ca', 'token', '--dir', dir, '--passphrase-file', wrong], {})
    expect(t.code).to.equal(1)
    expect(t.stderr).to.include('WRONG_PASSPHRASE').and.include(`--passphrase-file ${wrong}`)
    expect(t.stdout).to.not.match(/dmt1_/)
    const csrFile = join(base, 'wrong.csr')
    await writeFile(csrFile, (await nodeCsr('wrong')).csrPem)
    const i = await run(['ca', 'issue', '--dir', dir, '--csr', csrFile, '--passphrase-file', wrong], {})
    expect(i.code).to.equal(1)
    expect(i.stderr).to.include('WRONG_PASSPHRASE')
    expect(i.stdout).to.not.include('BEGIN CERTIFICATE')
    // A wrong DADM_MESH_PASSPHRASE is refused the same way; the right one, or none, works.
    expect((await run(['ca', 'token', '--dir', dir], { DADM_MESH_PASSPHRASE: 'also wrong' })).stderr).to.include('WRONG_PASSPHRASE')
    expect((await run(['ca', 'token', '--dir', dir], {})).code).to.equal(0)
    expect((await run(['ca', 'token', '--dir', dir])).code).to.equal(0)
  })

  it('SIGTERM stops ca serve gracefully; afterwards the commands open the store themselves', async () => {
    serve?.child.kill('SIGTERM')
    expect(await serve?.exited).to.equal(0)
    expect(serve?.stderr()).to.include('stopped')
    expect(await exists(adminSocketPath(dir))).to.equal(false)
    const r = await run(['ca', 'token', '--dir', dir])
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stderr).to.not.include('running service')
  })

  it('logged one JSON line per request on stdout, without tokens, CSRs or keys', async () => {
    const lines = (serve?.stdout() ?? '').split('\n').filter(l => l !== '')
    const parsed = lines.map(l => JSON.parse(l))
    const requests = parsed.filter(l => l.msg === 'request')
    // node enroll x5 (one refused), /v1/revoke x1 at least.
    expect(requests.filter(l => l.route === '/v1/enroll').length).to.be.at.least(5)
    expect(requests.some(l => l.route === '/v1/revoke' && l.status === 204 && l.admin === 'ops')).to.equal(true)
    // Refusals (4xx) are logged at debug, below the default info level: a scan cannot flood the log.
    expect(requests.some(l => l.status >= 400 && l.status < 500)).to.equal(false)
    const all = lines.join('\n')
    expect(all).to.not.match(/dmt1_[A-Za-z0-9_-]{43}/)
    expect(all).to.not.include('BEGIN')
  })
})
