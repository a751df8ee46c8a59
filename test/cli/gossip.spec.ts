import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { readNodeFile } from '../../src/daemon/enroll/node-files.ts'
import { startNodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { waitForEvent } from '../node/fixtures.ts'
import type { NodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import type { RevokedPeerEvent } from '../../src/node/index.ts'
import type { ChildProcess } from 'node:child_process'

/**
 * Gossip on the command line: `ca serve --mesh-dir` runs the CA's own mesh node (enrolled from
 * the CA itself) that publishes every revocation at once; `gossip publish` and `gossip list` talk
 * to a running node through its admin API, as `node peers` does.
 */
const PASS = 'gossip cli pass'
const ENV = { DADM_MESH_PASSPHRASE: PASS }
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'dadm-mesh.js')

async function run (argv: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } }, env: ENV })
  return { code, stdout, stderr }
}

describe('cli: ca serve --mesh-dir, gossip publish, gossip list', function () {
  this.timeout(120_000)
  let base: string
  let caDir: string
  let serve: { child: ChildProcess, exited: Promise<number | null>, stderr(): string } | undefined
  let url: string
  let caNode: string
  const runtimes: NodeRuntime[] = []

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-gossip-cli-'))
    caDir = join(base, 'ca')
    const ca = await MeshCa.init({ dir: caDir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    await ca.close()
    // 1. ca serve with its mesh node on 127.0.0.95.
    const child = spawn(process.execPath, [BIN, 'ca', 'serve', '--dir', caDir, '--listen', '127.0.0.1:0', '--mesh-dir', join(base, 'ca-mesh'), '--mesh-listen', '/ip4/127.0.0.95/udp/0/quic-v1'], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    child.stdout?.resume()
    const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
    ;[url, caNode] = await new Promise<[string, string]>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`ca serve did not start in 60 s: ${err}`)) }, 60_000)
      child.stderr?.on('data', (c: Buffer) => {
        err += c.toString()
        const listening = /listening on (https:\/\/\S+);/.exec(err)
        const mesh = /mesh node ca-mesh \(peer \S+\) on (\S+) pushes every revocation/.exec(err)
        if (listening != null && mesh != null) { clearTimeout(timer); resolve([listening[1], mesh[1]]) }
      })
      void exited.then(code => { clearTimeout(timer); reject(new Error(`ca serve exited with ${String(code)}: ${err}`)) })
    })
    serve = { child, exited, stderr: () => err }
  })

  after(async () => {
    await Promise.all(runtimes.map(async r => { await r.stop() }))
    if (serve != null && serve.child.exitCode == null) {
      serve.child.kill('SIGTERM')
      await serve.exited
    }
    await rm(base, { recursive: true, force: true })
  })

  async function enrollOnly (nodeId: string): Promise<string> {
    const dir = join(base, nodeId)
    const token = (await run(['ca', 'token', '--dir', caDir, '--node-id', nodeId])).stdout.trim()
    const r = await run(['node', 'enroll', '--dir', dir, '--ca-url', url, '--ca-cert', join(caDir, 'root.pem'), '--token', token, '--node-id', nodeId])
    expect(r.code, r.stderr).to.equal(0)
    return dir
  }

  async function enrollAndStart (nodeId: string, host: number, bootstrap: string[]): Promise<{ dir: string, runtime: NodeRuntime }> {
    const dir = await enrollOnly(nodeId)
    // As `node start` runs it, in this process: run.json, admin API; no CRL poll (push and gossip only).
    const runtime = await startNodeRuntime({ dir, passphrase: PASS, crl: false, options: { listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`], transports: { quic: true, tcp: false }, mdns: { enabled: false }, bootstrap } })
    runtimes.push(runtime)
    return { dir, runtime }
  }

  it('the CA mesh node is enrolled from the CA itself into --mesh-dir', async () => {
    const node = await readNodeFile(join(base, 'ca-mesh'))
    expect(node?.node_id).to.equal('ca-mesh')
    expect((await stat(join(base, 'ca-mesh', 'keys', 'host.key'))).isFile()).to.equal(true)
  })

  it('gossip publish and gossip list go through the running node\'s admin API', async () => {
    const { dir } = await enrollAndStart('cli-gossip-1', 96, [caNode])
    const p = await run(['gossip', 'publish', '--dir', dir, '--type', 'sha256', '--value', 'ab'.repeat(32), '--ttl', '600', '--meta', 'rule=r-9', '--meta', 'score=7'])
    expect(p.code, p.stderr).to.equal(0)
    const id = p.stdout.trim()
    expect(id).to.match(/^cli-gossip-1:[0-9a-f-]{36}$/)
    const list = await run(['gossip', 'list', '--dir', dir, '--json'])
    expect(list.code, list.stderr).to.equal(0)
    const rows = JSON.parse(list.stdout)
    expect(rows).to.have.length(1)
    expect(rows[0]).to.deep.include({ message_id: id, origin: 'cli-gossip-1', source: 'local' })
    expect(rows[0].payload).to.deep.equal({ type: 'sha256', value: 'ab'.repeat(32), meta: { rule: 'r-9', score: 7 } })
    expect(Date.parse(rows[0].expiry) - Date.parse(rows[0].timestamp)).to.equal(600_000)
    const table = await run(['gossip', 'list', '--dir', dir])
    expect(table.stdout).to.match(/^MESSAGE_ID +ORIGIN +TYPE +VALUE +SOURCE +EXPIRY\n/)
    expect(table.stdout).to.include(id)
    // A payload the envelope refuses: the API answers 400 INVALID_REQUEST, the CLI exits 1.
    const bad = await run(['gossip', 'publish', '--dir', dir, '--type', 'Not A Type', '--value', 'v'])
    expect(bad.code).to.equal(1)
    expect(bad.stderr).to.include('INVALID_REQUEST')
  })

  it('gossip sign offline, gossip publish --signed through another node, gossip verify; a tampered envelope is refused', async () => {
    const dir = join(base, 'cli-gossip-1')
    // 1. A member that runs no node here (a fusion service) signs from its node directory.
    const fusion = await enrollOnly('cli-fusion')
    const file = join(base, 'ioc.env')
    const s = await run(['gossip', 'sign', '--dir', fusion, '--type', 'ioc.domain', '--value', 'bad.example', '--ttl', '30m', '--out', file])
    expect(s.code, s.stderr).to.equal(0)
    const id = s.stdout.trim()
    expect(id).to.match(/^cli-fusion:[0-9a-f-]{36}$/)
    // 2. The running node checks it as a received message and gossips it.
    const p = await run(['gossip', 'publish', '--dir', dir, '--signed', file, '--json'])
    expect(p.code, p.stderr).to.equal(0)
    expect(JSON.parse(p.stdout)).to.include({ message_id: id, origin: 'cli-fusion' })
    const rows = JSON.parse((await run(['gossip', 'list', '--dir', dir, '--origin', 'cli-fusion', '--json'])).stdout)
    expect(rows.map((r: { source: string }) => r.source)).to.deep.equal(['submitted'])
    // 3. The stored envelope verifies again.
    const v = await run(['gossip', 'verify', '--dir', dir, id, '--json'])
    expect(v.code, v.stderr).to.equal(0)
    expect(JSON.parse(v.stdout)).to.include({ message_id: id, valid: true, origin: 'cli-fusion' })
    // 4. Handed again: the node holds it (REPLAYED, as a replay over gossip would be).
    const again = await run(['gossip', 'publish', '--dir', dir, '--signed', file])
    expect(again.code).to.equal(1)
    expect(again.stderr, again.stderr).to.include('REPLAYED')
    // 5. Another envelope whose signed value was edited in the file (worse -> wurse): refused with
    // the validator's code.
    const other = join(base, 'other.env')
    expect((await run(['gossip', 'sign', '--dir', fusion, '--type', 'ioc.domain', '--value', 'worse.example', '--out', other])).code).to.equal(0)
    const bytes = await readFile(other)
    const at = bytes.indexOf('worse.example')
    expect(at).to.be.above(0)
    bytes[at + 1] = 'u'.charCodeAt(0)
    const tampered = join(base, 'tampered.env')
    await writeFile(tampered, bytes)
    const t = await run(['gossip', 'publish', '--dir', dir, '--signed', tampered])
    expect(t.code).to.equal(1)
    expect(t.stderr, t.stderr).to.include('BAD_ORIGIN_SIGNATURE')
    // 6. --signed with payload flags is a usage error.
    expect((await run(['gossip', 'publish', '--dir', dir, '--signed', file, '--type', 'x'])).code).to.equal(2)
  })

  it('ca revoke while ca serve runs: the CA node pushes the CRL, and nodes cut the revoked one off without polling', async () => {
    const keeper = runtimes[0]
    const { dir: victimDir, runtime: victim } = await enrollAndStart('cli-victim', 97, [caNode, keeper.node.getMultiaddrs()[0].toString()])
    await waitForEvent(keeper.node, 'peer:authenticated', (e: { peerId: string }) => e.peerId === victim.node.peerId.toString(), 20_000).catch(() => {})
    const victimId = victim.node.peerId.toString()
    const cut = waitForEvent<RevokedPeerEvent>(keeper.node, 'peer:revoked', e => e.peerId === victimId, 20_000)
    const serial = (await readNodeFile(victimDir))?.serial as string
    const r = await run(['ca', 'revoke', '--dir', caDir, '--serial', serial])
    expect(r.code, r.stderr).to.equal(0)
    expect((await cut).nodeId).to.equal('cli-victim')
    expect(keeper.node.libp2p.getConnections(victim.node.peerId)).to.have.length(0)
    expect(keeper.node.blockList.get(victimId)?.reason).to.equal('REVOKED')
  })

  it('ca serve stops cleanly on SIGTERM, its mesh node with it', async () => {
    serve?.child.kill('SIGTERM')
    expect(await serve?.exited).to.equal(0)
    expect(serve?.stderr()).to.include('stopped')
  })
})
