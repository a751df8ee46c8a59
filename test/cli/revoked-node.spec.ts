import { watch } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { nodeStatusOf } from '../../src/cli/commands/node-status.ts'
import { revokedFilePath } from '../../src/daemon/runtime/self-revocation.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { ENV, PASS, runChild, spawnNode } from '../daemon/runtime/harness.ts'
import { runMain } from './run-main.ts'
import { startServe } from './serve-process.ts'
import type { CliRun } from './run-main.ts'
import type { ServeProcess } from './serve-process.ts'
import type { NodeProcess } from '../daemon/runtime/harness.ts'

/**
 * A revoked node is told, says so once, and stops; `node status` shows it within 2 s of
 * `ca revoke` run with its default flags against `ca serve` run with its default (mesh node on).
 * Everything is a real process: `ca serve`, `node start`, `ca revoke`, `node status`, over QUIC on loopback.
 */

async function run (argv: string[]): Promise<CliRun> {
  return runMain(argv, ENV)
}

/** Resolves when `file` appears in `dir` (fs.watch), or rejects after `ms`. */
async function appears (dir: string, file: string, ms: number): Promise<void> {
  const path = join(dir, file)
  const present = async (): Promise<boolean> => readFile(path).then(() => true, () => false)
  if (await present()) { return }
  await new Promise<void>((resolve, reject) => {
    const w = watch(dir, (_e, name) => {
      if (name !== file) { return }
      void present().then(ok => { if (ok) { clearTimeout(timer); w.close(); resolve() } })
    })
    const timer = setTimeout(() => { w.close(); reject(new Error(`${file} did not appear in ${ms} ms`)) }, ms)
  })
}

/** Waits for `re` in a process's output, event-driven, with a deadline. */
async function outputMatches (p: NodeProcess, re: RegExp, ms: number): Promise<void> {
  if (re.test(p.stdout())) { return }
  await new Promise<void>((resolve, reject) => {
    const onData = (): void => { if (re.test(p.stdout())) { done(); resolve() } }
    const done = (): void => { clearTimeout(timer); p.child.stdout?.off('data', onData) }
    const timer = setTimeout(() => { done(); reject(new Error(`no ${String(re)} in ${ms} ms: ${p.stdout().slice(-2000)}`)) }, ms)
    p.child.stdout?.on('data', onData)
  })
}

/** The exit code of a process that is to stop by itself, with a deadline. */
async function exitOf (p: NodeProcess, ms: number): Promise<number | null> {
  if (p.child.exitCode != null) { return p.child.exitCode }
  return new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`still running after ${ms} ms`)) }, ms)
    p.child.once('exit', code => { clearTimeout(timer); resolve(code) })
  })
}

describe('cli: a revoked node is told, logs one error, exits 3, and node status says revoked', function () {
  this.timeout(240_000)
  let base: string
  let caDir: string
  let serve: ServeProcess | undefined
  const procs: NodeProcess[] = []

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-revoked-'))
    caDir = join(base, 'ca')
    const ca = await MeshCa.init({ dir: caDir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    await ca.close()
    serve = await startServe(caDir, ENV)
  })

  after(async () => {
    await Promise.all(procs.splice(0).map(async p => p.stop()))
    if (serve != null && serve.child.exitCode == null) {
      serve.child.kill('SIGTERM')
      await serve.exited
    }
    await rm(base, { recursive: true, force: true })
  })

  async function enroll (nodeId: string): Promise<string> {
    const token = (await run(['ca', 'token', '--dir', caDir, '--node-id', nodeId])).stdout.trim()
    const dir = join(base, nodeId)
    const r = await run(['node', 'enroll', '--dir', dir, '--ca-url', serve?.url as string, '--ca-cert', join(caDir, 'root.pem'), '--token', token, '--node-id', nodeId, '--key-store', 'software'])
    expect(r.code, r.stderr).to.equal(0)
    return dir
  }

  it('ca serve starts its mesh node by default and says so; nodes enrolled afterwards list it as a bootstrap peer', async () => {
    expect(serve?.stderr()).to.match(/mesh node ca-mesh \(peer 12D3KooW\S+\) on .* pushes every revocation and notice \(push on/)
    const dir = await enroll('boot-check')
    const node = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8'))
    expect(node.config.bootstrap_peers.length).to.be.greaterThan(0)
    expect(node.config.bootstrap_peers.every((a: string) => a.includes('/p2p/12D3KooW'))).to.equal(true)
    // `ca status` (no passphrase) shows the running service, its names and its mesh node.
    const st = await runChild(['ca', 'status', '--dir', caDir, '--json'])
    expect(st.code, st.stderr).to.equal(0)
    const s = JSON.parse(st.stdout)
    expect(s.service.url).to.equal(serve?.url)
    expect(s.service.server_names).to.include('127.0.0.1')
    expect(s.service.mesh.node_id).to.equal('ca-mesh')
    const human = await runChild(['ca', 'status', '--dir', caDir])
    expect(human.stdout).to.match(/mesh node\s+ca-mesh \(peer 12D3KooW\S+\), \d+ authenticated peer\(s\), push on/)
  })

  it('notice-report: ca rotate-now through the service says how many connected peers its mesh node pushed it to', async () => {
    const dir = await enroll('notice-peer')
    const node = await spawnNode(['node', 'start', '--dir', dir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns'], { startMs: 90_000 })
    procs.push(node)
    await outputMatches(node, /"node_id":"ca-mesh"[^\n]*"msg":"peer authenticated"/, 30_000)
    const r = await runChild(['ca', 'rotate-now', '--dir', caDir, '--node-id', 'notice-peer'])
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout, r.stdout).to.include('pushed by the service\'s mesh node: 1 of 1 connected peer(s) accepted it')
    await outputMatches(node, /"msg":"CA notice accepted"/, 5000)
    expect(await node.stop()).to.equal(0)
  })

  it('revoked-within-2s: node status shows revoked, CRL number and reason within 2 s of `ca revoke` with default flags', async () => {
    const dir = await enroll('victim')
    const node = await spawnNode(['node', 'start', '--dir', dir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns'], { startMs: 90_000 })
    procs.push(node)
    // The node reaches the CA's mesh node through the bootstrap list it got at enrollment.
    await outputMatches(node, /"node_id":"ca-mesh"[^\n]*"msg":"peer authenticated"/, 30_000)
    expect((await nodeStatusOf(dir, new Date())).state).to.equal('running')

    const revoke = await runChild(['ca', 'revoke', '--dir', caDir, '--node-id', 'victim'])
    expect(revoke.code, revoke.stderr).to.equal(0)
    const revokedAt = Date.now()
    await appears(dir, 'revoked.json', 2000)
    const status = await nodeStatusOf(dir, new Date())
    const took = Date.now() - revokedAt
    expect(took).to.be.lessThan(2000)
    expect(status.state).to.equal('revoked')
    expect(status.revoked?.reason).to.equal('unspecified')
    expect(status.revoked?.revoked_subject).to.equal('node')
    expect(Number(status.revoked?.crl_number)).to.be.greaterThan(0)

    // The node stops by itself with exit code 3, after ONE clear error line; no gossip duplicate stack.
    expect(await exitOf(node, 15_000)).to.equal(3)
    const errors = node.stdout().split('\n').filter(l => l.includes('"code":"NODE_REVOKED"'))
    expect(errors, node.stdout()).to.have.length(1)
    expect(JSON.parse(errors[0]).level).to.equal(50)
    expect(node.stdout()).to.not.include('PublishError')
    expect(node.stderr()).to.include('error: NODE_REVOKED')
    expect(node.stderr()).to.not.match(/\n\s+at /)

    // The real command, as an operator runs it: exit 3, "revoked" with the CRL number and reason.
    const human = await runChild(['node', 'status', '--dir', dir])
    expect(human.code, human.stderr).to.equal(3)
    expect(human.stdout).to.match(new RegExp(`state\\s+revoked: certificate [0-9a-f]+, reason unspecified, CRL number ${String(status.revoked?.crl_number)}`))
    const json = await runChild(['node', 'status', '--dir', dir, '--json'])
    expect(json.code).to.equal(3)
    expect(JSON.parse(json.stdout)).to.deep.include({ state: 'revoked', node_id: 'victim' })

    // `node peers` of the revoked node explains itself instead of CLIENT_CERT_INVALID.
    const peers = await run(['node', 'peers', '--dir', dir])
    expect(peers.code).to.equal(1)
    expect(peers.stderr).to.include('NODE_REVOKED').and.include('reason unspecified')
    expect(peers.stderr).to.not.include('CLIENT_CERT_INVALID')

    // A restart finds the CRL it stored and refuses at once, exit 3, without "listening".
    const again = await runChild(['node', 'start', '--dir', dir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns'], 90_000)
    expect(again.code).to.equal(3)
    expect(again.stderr).to.include('NODE_REVOKED')
    expect(again.stderr).to.not.include('listening')
    expect(await readFile(revokedFilePath(dir), 'utf8')).to.include('"victim"')
  })

  it('--on-revoked isolate: the revoked node stays up, logs the one error, and node status says revoked', async () => {
    const dir = await enroll('isolated')
    const node = await spawnNode(['node', 'start', '--dir', dir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns', '--on-revoked', 'isolate'], { startMs: 90_000 })
    procs.push(node)
    await outputMatches(node, /"node_id":"ca-mesh"[^\n]*"msg":"peer authenticated"/, 30_000)
    const revoke = await runChild(['ca', 'revoke', '--dir', caDir, '--node-id', 'isolated', '--reason', 'keyCompromise'])
    expect(revoke.code, revoke.stderr).to.equal(0)
    await appears(dir, 'revoked.json', 2000)
    await outputMatches(node, /"code":"NODE_REVOKED"/, 2000)
    const status = await nodeStatusOf(dir, new Date())
    expect(status.state).to.equal('revoked')
    expect(status.revoked?.reason).to.equal('keyCompromise')
    expect(status.process.running).to.equal(true)
    expect(node.child.exitCode).to.equal(null)
    expect(node.stdout().split('\n').filter(l => l.includes('"code":"NODE_REVOKED"'))).to.have.length(1)
    // The CRL came by push and by gossip (and maybe the poll): one "CRL installed" line for the change.
    await outputMatches(node, new RegExp(`"crl_number":"${String(status.revoked?.crl_number)}"[^\\n]*"msg":"CRL installed"`), 5000)
    const installed = node.stdout().split('\n').filter(l => l.includes('"msg":"CRL installed"') && l.includes(`"crl_number":"${String(status.revoked?.crl_number)}"`))
    expect(installed, node.stdout()).to.have.length(1)
    expect(await node.stop()).to.equal(0)
  })
})
