import { createHash } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { startNodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import { PASS, createTestMesh, runCli } from '../daemon/runtime/harness.ts'
import type { NodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import type { TestMesh } from '../daemon/runtime/harness.ts'

/**
 * `bundle get ID [--out FILE] [--json]`: the payload of one bundle delivered to the running node,
 * read over its admin API (mutual TLS, as the node), checked against the node's SHA-256 of it.
 */
describe('cli: bundle get', function () {
  this.timeout(60_000)
  let mesh: TestMesh
  let node: NodeRuntime
  let dir: string
  let id: string
  const payload = Buffer.from([0x00, 0xff, 0x10, ...Buffer.from(' binary and text payload\n')])

  before(async () => {
    mesh = await createTestMesh('bundle-get')
    dir = await mesh.enroll('get-node')
    node = await startNodeRuntime({
      dir,
      passphrase: PASS,
      crl: false,
      options: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false } }
    })
    // a bundle to itself lands in its own inbox
    const file = join(mesh.base, 'payload.bin')
    await writeFile(file, payload)
    const sent = await runCli(['bundle', 'send', '--dir', dir, '--to', 'get-node', '--ttl', '600', '--file', file])
    expect(sent.code, sent.stderr).to.equal(0)
    id = sent.stdout.trim()
  })
  after(async () => {
    await node?.stop()
    await mesh?.cleanup()
  })

  it('--out writes the exact payload (mode 0600) and says what it wrote', async () => {
    const out = join(mesh.base, 'got.bin')
    const r = await runCli(['bundle', 'get', id, '--dir', dir, '--out', out])
    expect(r.code, r.stderr).to.equal(0)
    expect(await readFile(out)).to.deep.equal(payload)
    expect((await stat(out)).mode & 0o777).to.equal(0o600)
    expect(r.stderr).to.include(`${payload.length} bytes, sha256 ${createHash('sha256').update(payload).digest('hex')}`)
    expect(r.stdout).to.equal('')
  })

  it('--out never replaces an existing file (OUT_EXISTS, exit 1): the file keeps its content', async () => {
    const out = join(mesh.base, 'existing.bin')
    await writeFile(out, 'keep me')
    const r = await runCli(['bundle', 'get', id, '--dir', dir, '--out', out])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.match(/^error: OUT_EXISTS: /)
    expect(r.stderr).to.include(out)
    expect(await readFile(out, 'utf8')).to.equal('keep me')
  })

  it('--json prints the record with the payload in base64; without --out the payload goes to stdout', async () => {
    const j = await runCli(['bundle', 'get', id, '--dir', dir, '--json'])
    expect(j.code, j.stderr).to.equal(0)
    const rec = JSON.parse(j.stdout)
    expect(rec).to.include({ bundle_id: id, source: 'get-node', size: payload.length })
    expect(Buffer.from(rec.payload, 'base64')).to.deep.equal(payload)
    const text = await runCli(['bundle', 'get', id, '--dir', dir])
    expect(text.code).to.equal(0)
    expect(text.stdout).to.equal(payload.toString())
  })

  it('an id the node never received is BUNDLE_NOT_FOUND (exit 1), a malformed id a usage error (exit 2); no file is written', async () => {
    const out = join(mesh.base, 'never.bin')
    const missing = await runCli(['bundle', 'get', `get-node:${Date.now()}:7`, '--dir', dir, '--out', out])
    expect(missing.code).to.equal(1)
    expect(missing.stderr).to.match(/^error: BUNDLE_NOT_FOUND: /)
    const bad = await runCli(['bundle', 'get', 'not an id', '--dir', dir, '--out', out])
    expect(bad.code).to.equal(2)
    expect(bad.stderr).to.include('BUNDLE_ID')
    const none = await runCli(['bundle', 'get', '--dir', dir])
    expect(none.code).to.equal(2)
    expect(await stat(out).then(() => true, () => false)).to.equal(false)
  })
})
