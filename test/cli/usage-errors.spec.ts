import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { createTestMesh } from '../daemon/runtime/harness.ts'
import { runMain } from './run-main.ts'
import type { CliRun } from './run-main.ts'
import type { TestMesh } from '../daemon/runtime/harness.ts'

/**
 * A bad flag value is a usage error (exit 2) that names the flag, raised before anything opens:
 * no store, no key, no socket, no passphrase asked for. The node directory is a real enrolled one,
 * so a check that ran too late would leave its marks (run.json, the store) or fail differently.
 */

/** In-process, with NO passphrase: a command that got as far as a key would fail NO_PASSPHRASE (exit 1) instead. */
async function run (argv: string[]): Promise<CliRun> {
  return runMain(argv, {})
}

/** Every path under `dir` with its size and mtime: what "nothing was opened or written" is checked against. */
async function snapshot (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name)
    const s = await stat(p)
    out.push(`${p} ${e.isDirectory() ? 'dir' : s.size} ${s.mtimeMs}`)
  }
  return out.sort()
}

/** The usage error names `flag`, carries no stack trace, and points at --help. */
function expectUsage (r: CliRun, flag: string): void {
  expect(r.code, r.stderr).to.equal(2)
  expect(r.stderr).to.match(new RegExp(`^error: .*${flag}`))
  expect(r.stderr).to.not.match(/\n\s+at /)
  expect(r.stderr).to.include('--help lists every option')
  expect(r.stdout).to.equal('')
}

describe('cli usage errors', function () {
  // One object, filled in `before`: the loops below declare tests that read it.
  const t = { mesh: undefined as unknown as TestMesh, node: '', caDir: '' }

  before(async () => {
    t.mesh = await createTestMesh('cli-usage')
    t.node = await t.mesh.enroll('usage-n1')
    t.caDir = join(t.mesh.base, 'ca-empty')
    await mkdir(t.caDir)
  })
  after(async () => { await t.mesh.cleanup() })

  for (const [flag, value] of [
    ['--listen', '/ip4/0.0.0.0/tcp/abc'],
    ['--listen', 'not-a-multiaddr'],
    ['--listen', '/ip4/0.0.0.0/udp/99999/quic-v1'],
    ['--bootstrap', '/ip4/127.0.0.1/udp/4001/quic-v1'],
    ['--log-level', 'banana'],
    ['--log-format', 'xml'],
    ['--api', '127.0.0.1:notaport'],
    ['--upnp-gateway', 'https://192.168.1.1/rootDesc.xml']
  ] as const) {
    it(`node start ${flag} ${value}: exit 2 naming ${flag}, before the node directory is touched`, async () => {
      const before = await snapshot(t.node)
      const r = await run(['node', 'start', '--dir', t.node, flag, value])
      expectUsage(r, flag)
      expect(r.stderr).to.include(JSON.stringify(value))
      expect(await snapshot(t.node)).to.deep.equal(before)
    })
  }

  it('bootstrap-server --listen with a bad port is the same usage error', async () => {
    const before = await snapshot(t.node)
    expectUsage(await run(['bootstrap-server', '--dir', t.node, '--listen', '/ip4/0.0.0.0/tcp/abc']), '--listen')
    expect(await snapshot(t.node)).to.deep.equal(before)
  })

  it('node start --bootstrap-file that does not exist or holds a bad line: exit 2 naming the flag and the file', async () => {
    const missing = join(t.mesh.base, 'no-such-bootstrap.txt')
    const r = await run(['node', 'start', '--dir', t.node, '--bootstrap-file', missing])
    expectUsage(r, '--bootstrap-file')
    expect(r.stderr).to.include(missing)
    const bad = join(t.mesh.base, 'bad-bootstrap.txt')
    await writeFile(bad, '# sites\n/ip4/127.0.0.1/udp/4001/quic-v1\n')
    const r2 = await run(['node', 'start', '--dir', t.node, '--bootstrap-file', bad])
    expectUsage(r2, '--bootstrap-file')
    expect(r2.stderr).to.include(`${bad} line 2`)
  })

  for (const [flag, value] of [
    ['--log-level', 'banana'],
    ['--log-format', 'xml'],
    ['--listen', '127.0.0.1:99999'],
    ['--mesh-listen', '/ip4/0.0.0.0/udp/abc/quic-v1'],
    ['--mesh-bootstrap', '/ip4/127.0.0.1/udp/4001/quic-v1']
  ] as const) {
    it(`ca serve ${flag} ${value}: exit 2 naming ${flag}, before the CA directory is touched`, async () => {
      const args = ['ca', 'serve', '--dir', t.caDir, '--listen', '127.0.0.1:0', '--mesh-dir', join(t.mesh.base, 'ca-node')]
      const i = args.indexOf(flag)
      if (i >= 0) { args[i + 1] = value } else { args.push(flag, value) }
      const r = await run(args)
      expectUsage(r, flag)
      expect(await readdir(t.caDir)).to.deep.equal([])
    })
  }

  it('an unknown option, a missing value and a missing required option each name the flag', async () => {
    expectUsage(await run(['node', 'peers', '--dir', t.node, '--frobnicate']), '--frobnicate')
    expectUsage(await run(['node', 'peers', '--dir']), '--dir')
    expectUsage(await run(['gossip', 'list', '--json']), '--dir')
  })
})
