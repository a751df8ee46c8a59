import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { BIN, createTestMesh, ENV } from '../daemon/runtime/harness.ts'
import { runMain } from './run-main.ts'
import type { CliRun } from './run-main.ts'
import type { TestMesh } from '../daemon/runtime/harness.ts'
import type { ChildProcess } from 'node:child_process'

/**
 * `--json` on every command that prints a result: stdout is exactly one JSON document (scripts
 * parse it) carrying what the text form says; `--log-format pretty` gives readable log lines.
 */

const NOW = new Date('2026-03-01T12:00:00Z')
const PASS = { DADM_MESH_PASSPHRASE: 'json pass' }

async function run (argv: string[], env: Record<string, string | undefined> = PASS, now = true): Promise<CliRun> {
  return runMain(argv, env, { ...(now ? { now: () => NOW } : {}) })
}

/** Runs and parses stdout as ONE JSON document (JSON.parse refuses anything around it). */
async function json (argv: string[], env?: Record<string, string | undefined>, now?: boolean): Promise<any> {
  const r = await run([...argv, '--json'], env, now)
  expect(r.code, r.stderr).to.equal(0)
  return JSON.parse(r.stdout)
}

describe('cli --json', function () {
  let dir: string
  const f = (name: string): string => join(dir, name)

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-cli-json-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('keygen, csr, ca init, ca issue, cert verify, ca revoke, ca unblock, rotate-now, trust-bundle and admin-cert print one JSON document', async () => {
    const key = await json(['keygen', '--out', f('node.key')])
    expect(key).to.include({ file: f('node.key'), algorithm: 'Ed25519' })
    expect(key.peer_id).to.match(/^12D3KooW/)

    expect(await json(['csr', '--key', f('node.key'), '--node-id', 'json-n1', '--out', f('n1.csr')])).to.deep.equal({ file: f('n1.csr'), node_id: 'json-n1', peer_id: key.peer_id })

    const init = await json(['ca', 'init', '--dir', f('ca')])
    expect(init.root.file).to.equal(`${f('ca')}/root.pem`)
    expect(init.issuing.serial).to.match(/^[0-9a-f]+$/)

    const issued = await json(['ca', 'issue', '--dir', f('ca'), '--csr', f('n1.csr')])
    expect(issued.pem).to.match(/^-----BEGIN CERTIFICATE-----/)
    await writeFile(f('n1.pem'), issued.pem)

    const ok = await json(['cert', 'verify', '--ca', f('ca/root.pem'), '--intermediate', f('ca/ca-chain.pem'), '--at', new Date(NOW.getTime() + 60_000).toISOString(), f('n1.pem')])
    expect(ok).to.include({ valid: true, serial: issued.serial })

    const revoked = await json(['ca', 'revoke', '--dir', f('ca'), '--node-id', 'json-n1', '--reason', 'keyCompromise'])
    expect(revoked).to.deep.equal({ revoked: [issued.serial], reason: 'keyCompromise', node_id: 'json-n1', blocked: true })
    expect(await json(['ca', 'unblock', '--dir', f('ca'), '--node-id', 'json-n1'])).to.deep.equal({ node_id: 'json-n1', blocked: false })

    // No service runs: the notice is stored, and the JSON says so rather than claiming a push.
    const rotate = await json(['ca', 'rotate-now', '--dir', f('ca'), '--all', '--out', f('notice.bin')])
    expect(rotate).to.include({ kind: 'rotate-now', out: f('notice.bin') })
    expect(rotate.delivery).to.deep.equal({ via: 'stored' })
    const bundle = await json(['ca', 'trust-bundle', '--dir', f('ca'), '--roots', f('ca/root.pem')])
    expect(bundle).to.include({ kind: 'trust-bundle', roots: 1 })

    await writeFile(f('admin.pass'), 'a different admin passphrase', { mode: 0o600 })
    const admin = await json(['ca', 'admin-cert', '--dir', f('ca'), '--name', 'alice', '--out-cert', f('alice.pem'), '--out-key', f('alice.key'), '--key-passphrase-file', f('admin.pass')], PASS, false)
    expect(admin).to.include({ name: 'alice', cert_file: f('alice.pem'), key_file: f('alice.key') })
  })

  it('cert verify --json of a revoked certificate: exit 1, the verdict as JSON with its code', async () => {
    const crl = await run(['ca', 'crl', '--dir', f('ca')])
    await writeFile(f('issuing.crl'), crl.stdout)
    const r = await run(['cert', 'verify', '--json', '--ca', f('ca/root.pem'), '--intermediate', f('ca/ca-chain.pem'), '--crl', f('issuing.crl'), '--at', new Date(NOW.getTime() + 60_000).toISOString(), f('n1.pem')])
    expect(r.code).to.equal(1)
    expect(JSON.parse(r.stdout)).to.include({ valid: false, code: 'REVOKED' })
  })

  describe('with an enrollment service', () => {
    let mesh: TestMesh
    const children: ChildProcess[] = []

    before(async () => { mesh = await createTestMesh('cli-json') })
    after(async () => {
      for (const c of children) { if (c.exitCode == null && c.signalCode == null && c.pid != null) { process.kill(c.pid, 'SIGKILL') } }
      await mesh.cleanup()
    })

    it('node enroll --json: node_id, peer_id, serial and the key store it chose', async () => {
      const { token } = await mesh.svc.service.createToken({ ttlMs: 600_000, uses: 1 }, mesh.svc.clock.now())
      await writeFile(join(mesh.base, 'root.pem'), mesh.svc.rootPem)
      const r = await json(['node', 'enroll', '--dir', join(mesh.base, 'json-enrolled'), '--ca-url', mesh.svc.url, '--ca-cert', join(mesh.base, 'root.pem'), '--token', token, '--node-id', 'json-enrolled'], { DADM_MESH_PASSPHRASE: ENV.DADM_MESH_PASSPHRASE }, false)
      expect(r).to.include({ node_id: 'json-enrolled', key_store: 'software' })
      expect(r.peer_id).to.match(/^12D3KooW/)
      expect(r.serial).to.match(/^[0-9a-f]+$/)
    })

    it('node start --json writes its start line as one JSON object; --log-format pretty writes readable log lines', async () => {
      const node = await mesh.enroll('json-start')
      const child = spawn(process.execPath, [BIN, 'node', 'start', '--dir', node, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns', '--json', '--log-format', 'pretty'], {
        env: { ...process.env, ...ENV },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      children.push(child)
      let out = ''
      let err = ''
      child.stdout.on('data', (c: Buffer) => { out += c.toString() })
      const exited = new Promise<number | string | null>(resolve => { child.once('exit', (code, signal) => { resolve(code ?? signal) }) })
      const start = await new Promise<any>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`no start line in 30 s: ${err}`)) }, 30_000)
        child.stderr.on('data', (c: Buffer) => {
          err += c.toString()
          const line = err.split('\n').find(l => l.startsWith('{'))
          if (line != null) { clearTimeout(timer); resolve(JSON.parse(line)) }
        })
        void exited.then(code => { clearTimeout(timer); reject(new Error(`exited ${String(code)}: ${err}`)) })
      })
      expect(start).to.include({ event: 'listening', command: 'node', node_id: 'json-start' })
      expect(start.addrs[0]).to.include('/quic-v1/p2p/')
      expect(start.api_url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/)
      // Stopped by pid; the clean-stop exit code is node-start.spec's subject, not this test's.
      process.kill(child.pid as number, 'SIGTERM')
      await exited
      // pino-pretty: "[time] INFO (...): message", not JSON lines.
      const lines = out.split('\n').filter(l => l.trim() !== '')
      expect(lines.length).to.be.greaterThan(0)
      expect(lines.some(l => /\bINFO\b/.test(l))).to.equal(true)
      expect(lines.filter(l => l.startsWith('{'))).to.deep.equal([])
    })
  })
})
