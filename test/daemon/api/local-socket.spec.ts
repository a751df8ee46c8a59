import { execFile, spawnSync } from 'node:child_process'
import { lstat, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { nodeApiGet, nodeApiPost } from '../../../src/daemon/api/client.ts'
import { nodeApiSocketPath, startNodeApiSocket } from '../../../src/daemon/api/local-socket.ts'
import { nodeSocketGet } from '../../../src/daemon/api/socket-client.ts'
import { NodeRuntimeError } from '../../../src/daemon/runtime/errors.ts'
import { startNodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import { issueSessionCredential } from '../../../src/pki/session-cert.ts'
import { runMain } from '../../cli/run-main.ts'
import { waitForEvent } from '../../node/fixtures.ts'
import { ENV, PASS, createTestMesh } from '../runtime/harness.ts'
import type { NodeApiClientOptions } from '../../../src/daemon/api/client.ts'
import type { NodeApiSource } from '../../../src/daemon/api/server.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { CliRun } from '../../cli/run-main.ts'
import type { TestMesh } from '../runtime/harness.ts'

const run = promisify(execFile)

/** The CLI in-process with the given environment (no passphrase: `{}`). */
async function cli (argv: string[], env: Record<string, string>): Promise<CliRun> {
  return runMain(argv, env)
}

/** One raw request over a Unix socket: status and body, whatever they are. */
async function rawRequest (socketPath: string, method: string, path: string, body?: string): Promise<{ status: number, body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, method, path, headers: body != null ? { 'content-type': 'application/json' } : {}, signal: AbortSignal.timeout(10_000) }, res => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** The peer table without the one column that moves with traffic. */
const steady = (rows: any[]): any[] => rows.map(({ last_seen: _ls, ...r }) => r).sort((a, b) => a.node_id.localeCompare(b.node_id))

/** Runs argv as `nobody` (asynchronously: the socket under test is served by this very process). */
async function asNobody (argv: string[]): Promise<{ status: number | null, stdout: string, stderr: string }> {
  return run('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv], { timeout: 20_000 }).then(
    r => ({ status: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: number | string, stdout?: string, stderr?: string }) => ({ status: typeof err.code === 'number' ? err.code : null, stdout: err.stdout ?? '', stderr: err.stderr ?? '' })
  )
}

/** Rule: another uid exists to try the socket with, and we may switch to it (root). */
const otherUid = process.getuid?.() === 0 && spawnSync('id', ['-u', 'nobody']).status === 0

/**
 * NODEDIR/api.sock: the running node answers the CLI's read-only queries on a 0600 Unix socket
 * with the mTLS API's routes, so `node peers`, `gossip list`, `bundle list` and `bundle get`
 * need neither the passphrase nor the identity key; acting as the node stays on mTLS.
 */
describe('api / local read socket NODEDIR/api.sock', function () {
  let mesh: TestMesh
  let a: NodeRuntime
  let b: NodeRuntime | undefined
  let client: NodeApiClientOptions
  let sock: string
  let bundleId: string

  before(async () => {
    mesh = await createTestMesh('local-socket')
    const dirA = await mesh.enroll('sock-a')
    const dirB = await mesh.enroll('sock-b')
    a = await startNodeRuntime({
      dir: dirA,
      passphrase: PASS,
      crl: false,
      options: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false } }
    })
    sock = nodeApiSocketPath(dirA)
    // A real peer, so the peer table the two paths are compared on is not empty.
    const met = waitForEvent(a.node, 'peer:authenticated', () => true, 30_000)
    b = await startNodeRuntime({
      dir: dirB,
      passphrase: PASS,
      api: false,
      runFile: false,
      crl: false,
      options: { listen: ['/ip4/127.0.0.2/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false }, bootstrap: [a.node.getMultiaddrs()[0].toString()] }
    })
    await met
    const credential = await issueSessionCredential({ signer: a.dir.identity.signer(), nodeChain: a.dir.chain, now: new Date(), validityMs: 600_000 })
    client = { url: a.apiUrl as string, credential, expectedPeerId: a.dir.peerId, roots: a.dir.roots, intermediates: a.dir.intermediates }
    await nodeApiPost('/v1/mesh/gossip', { type: 'sock-test', value: 'v1' }, client)
    bundleId = (await nodeApiPost('/v1/bundles', { destination: 'sock-a', ttl_sec: 120, payload: Buffer.from('for the socket').toString('base64') }, client) as { bundle_id: string }).bundle_id
  })
  after(async () => {
    await b?.stop()
    await a?.stop()
    await mesh?.cleanup()
  })

  it('api.sock is a socket of mode 0600 in the 0700 NODEDIR, owned by the node\'s uid', async () => {
    expect(a.apiSocket).to.equal(sock)
    const st = await lstat(sock)
    expect(st.isSocket()).to.equal(true)
    expect(st.mode & 0o777).to.equal(0o600)
    expect(st.uid).to.equal(process.getuid?.())
    expect((await lstat(a.dir.dir)).mode & 0o077).to.equal(0)
  })

  it('peers, gossip list, bundle list, bundle get and /v1/node answer on the socket as on the mTLS API', async () => {
    const peersSock = await nodeSocketGet(sock, '/v1/mesh/peers') as any[]
    expect(peersSock.map(p => p.node_id)).to.include('sock-b')
    expect(steady(peersSock)).to.deep.equal(steady(await nodeApiGet('/v1/mesh/peers', client) as any[]))
    const gossipSock = await nodeSocketGet(sock, '/v1/mesh/gossip') as any[]
    expect(gossipSock.map(g => g.payload.type)).to.include('sock-test')
    expect(gossipSock).to.deep.equal(await nodeApiGet('/v1/mesh/gossip', client))
    const listSock = await nodeSocketGet(sock, '/v1/bundles') as any
    expect(listSock.inbox.map((r: any) => r.bundle_id)).to.include(bundleId)
    expect(listSock).to.deep.equal(await nodeApiGet('/v1/bundles', client))
    const oneSock = await nodeSocketGet(sock, `/v1/bundles/${encodeURIComponent(bundleId)}`)
    expect(oneSock).to.deep.equal(await nodeApiGet(`/v1/bundles/${encodeURIComponent(bundleId)}`, client))
    const infoSock = await nodeSocketGet(sock, '/v1/node') as any
    const infoTls = await nodeApiGet('/v1/node', client) as any
    expect({ n: infoSock.node_id, p: infoSock.peer_id, s: infoSock.cert_serial }).to.deep.equal({ n: infoTls.node_id, p: infoTls.peer_id, s: infoTls.cert_serial })
    // Bad input gets the API's own catalogue answer.
    const bad = await rawRequest(sock, 'GET', '/v1/mesh/gossip?limit=0')
    expect(bad).to.deep.include({ status: 400 })
    expect(bad.body.error.code).to.equal('INVALID_REQUEST')
  })

  it('node peers, gossip list, bundle list and bundle get need no passphrase: same answers as over mTLS', async () => {
    const dir = a.dir.dir
    const noPass = {}
    const peers = await cli(['node', 'peers', '--dir', dir, '--json'], noPass)
    expect(peers.code, peers.stderr).to.equal(0)
    expect(steady(JSON.parse(peers.stdout))).to.deep.equal(steady(await nodeApiGet('/v1/mesh/peers', client) as any[]))
    const gossip = await cli(['gossip', 'list', '--dir', dir, '--json'], noPass)
    expect(gossip.code, gossip.stderr).to.equal(0)
    expect(JSON.parse(gossip.stdout)).to.deep.equal(await nodeApiGet('/v1/mesh/gossip', client))
    const list = await cli(['bundle', 'list', '--dir', dir, '--json'], noPass)
    expect(list.code, list.stderr).to.equal(0)
    expect(JSON.parse(list.stdout)).to.deep.equal(await nodeApiGet('/v1/bundles', client))
    const one = await cli(['bundle', 'get', bundleId, '--dir', dir], noPass)
    expect(one.code, one.stderr).to.equal(0)
    expect(one.stdout).to.equal('for the socket')
    // Acting as the node is not served on the socket: publishing still needs the key, and says so.
    const publish = await cli(['gossip', 'publish', '--dir', dir, '--type', 'x', '--value', 'y'], noPass)
    expect(publish.code).to.equal(1)
    expect(publish.stderr).to.include('NO_PASSPHRASE')
  })

  it('refuses every write on the socket with NOT_FOUND: nothing is published, nothing is stored', async () => {
    const gossipBefore = (await nodeApiGet('/v1/mesh/gossip', client) as any[]).length
    const heldBefore = (await a.bundles.store.listOutbound()).length
    const pub = await rawRequest(sock, 'POST', '/v1/mesh/gossip', JSON.stringify({ type: 'sneaky', value: 'v' }))
    expect(pub.status).to.equal(404)
    expect(pub.body.error.code).to.equal('NOT_FOUND')
    const send = await rawRequest(sock, 'POST', '/v1/bundles', JSON.stringify({ destination: 'far', ttl_sec: 60, payload: 'aGk=' }))
    expect(send.status).to.equal(404)
    expect(send.body.error.code).to.equal('NOT_FOUND')
    expect((await nodeApiGet('/v1/mesh/gossip', client) as any[]).length).to.equal(gossipBefore)
    expect((await nodeApiGet('/v1/mesh/gossip', client) as any[]).map(g => g.payload.type)).to.not.include('sneaky')
    expect((await a.bundles.store.listOutbound()).length).to.equal(heldBefore)
  })

  it('curl as the node\'s uid reads the peer table; curl as another uid (nobody) cannot connect', async function () {
    if (!otherUid) { this.skip() } // rule: needs root and a `nobody` user to switch to
    const mine = await run('curl', ['-sS', '--max-time', '10', '--unix-socket', sock, 'http://node/v1/mesh/peers'])
    expect(JSON.parse(mine.stdout).map((p: any) => p.node_id)).to.include('sock-b')
    const other = await asNobody(['curl', '-sS', '--max-time', '10', '--unix-socket', sock, 'http://node/v1/mesh/peers'])
    // curl exit 7: failed to connect (EACCES); nothing of the table came back.
    expect(other.status, other.stderr).to.equal(7)
    expect(other.stdout).to.equal('')
    expect(other.stderr).to.match(/Permission denied|Couldn't connect/i)
    // The socket's own mode is what keeps it closed, not only NODEDIR's: the same with a traversable directory.
    const probeDir = await mkdtemp(join(tmpdir(), 'dadm-sockmode-'))
    try {
      const { chmod } = await import('node:fs/promises')
      await chmod(probeDir, 0o755)
      const s = await startNodeApiSocket({ dir: probeDir, source: stubSource(), refuse: () => new Error('unexpected') })
      if ('skipped' in s) { throw new Error('socket skipped') }
      try {
        const denied = await asNobody(['curl', '-sS', '--max-time', '10', '--unix-socket', s.path, 'http://node/v1/mesh/peers'])
        expect(denied.status, denied.stderr).to.equal(7)
        expect(denied.stdout).to.equal('')
      } finally {
        await s.close()
      }
    } finally {
      await rm(probeDir, { recursive: true, force: true })
    }
  })

  it('without the socket the commands fall back to the mTLS API, which needs the passphrase', async () => {
    // Last in this file: the socket file goes, the node keeps running with its mTLS API.
    await unlink(sock)
    const dir = a.dir.dir
    const withPass = await cli(['node', 'peers', '--dir', dir, '--json'], ENV)
    expect(withPass.code, withPass.stderr).to.equal(0)
    expect(steady(JSON.parse(withPass.stdout)).map(p => p.node_id)).to.include('sock-b')
    const list = await cli(['gossip', 'list', '--dir', dir, '--json'], ENV)
    expect(list.code, list.stderr).to.equal(0)
    expect(JSON.parse(list.stdout).map((g: any) => g.payload.type)).to.include('sock-test')
    const noPass = await cli(['node', 'peers', '--dir', dir, '--json'], {})
    expect(noPass.code).to.equal(1)
    expect(noPass.stderr).to.include('NO_PASSPHRASE')
  })

  it('a node that stops removes its api.sock', async () => {
    const dirB = b?.dir.dir as string
    const path = nodeApiSocketPath(dirB)
    expect((await lstat(path)).isSocket()).to.equal(true)
    await b?.stop()
    b = undefined
    await lstat(path).then(() => { throw new Error('api.sock is still there') }, (err: NodeJS.ErrnoException) => { expect(err.code).to.equal('ENOENT') })
  })
})

describe('api / local read socket: stale, taken and foreign files at NODEDIR/api.sock', function () {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-sock-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  const refuse = (state: 'in-use' | 'not-a-socket', path: string): Error => new NodeRuntimeError(state === 'in-use' ? 'ALREADY_RUNNING' : 'NODE_DIR_INVALID', path)

  it('a socket left by a crashed run (nothing answers) is replaced', async () => {
    const path = nodeApiSocketPath(dir)
    // A process that bound the socket and died without removing it.
    await run(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`])
    expect((await lstat(path)).isSocket()).to.equal(true)
    const s = await startNodeApiSocket({ dir, source: stubSource(), refuse })
    if ('skipped' in s) { throw new Error('socket skipped') }
    try {
      expect(await nodeSocketGet(s.path, '/v1/mesh/peers')).to.deep.equal([])
      expect((await lstat(path)).mode & 0o777).to.equal(0o600)
    } finally {
      await s.close()
    }
  })

  it('a socket that answers is another running node: ALREADY_RUNNING, and it keeps answering', async () => {
    const first = await startNodeApiSocket({ dir, source: stubSource(), refuse })
    if ('skipped' in first) { throw new Error('socket skipped') }
    try {
      const err = await startNodeApiSocket({ dir, source: stubSource(), refuse }).then(() => undefined, (e: unknown) => e)
      expect(err).to.be.instanceOf(NodeRuntimeError)
      expect((err as NodeRuntimeError).code).to.equal('ALREADY_RUNNING')
      expect(await nodeSocketGet(first.path, '/v1/mesh/peers')).to.deep.equal([])
    } finally {
      await first.close()
    }
  })

  it('a file of that name that is not a socket is never removed: NODE_DIR_INVALID', async () => {
    const path = nodeApiSocketPath(dir)
    await writeFile(path, 'keep me')
    const err = await startNodeApiSocket({ dir, source: stubSource(), refuse }).then(() => undefined, (e: unknown) => e)
    expect((err as NodeRuntimeError).code).to.equal('NODE_DIR_INVALID')
    expect((await lstat(path)).isFile()).to.equal(true)
  })

  it('the client treats a missing socket as SOCKET_UNAVAILABLE (the cue to fall back to mTLS)', async () => {
    const err = await nodeSocketGet(nodeApiSocketPath(dir), '/v1/mesh/peers').then(() => undefined, (e: unknown) => e)
    expect((err as { code?: string }).code).to.equal('SOCKET_UNAVAILABLE')
  })
})

/** A source with nothing in it: these cases are about the socket file, not the node. */
function stubSource (): NodeApiSource {
  return {
    peers: () => [],
    info: () => ({ node_id: 'stub', peer_id: 'stub', multiaddrs: [], cert_serial: '00', cert_not_after: new Date(0).toISOString(), crl_number: null, started_at: new Date(0).toISOString() })
  }
}
