import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { createTestMesh, runCli, spawnNode } from '../daemon/runtime/harness.ts'
import type { NodeProcess, TestMesh } from '../daemon/runtime/harness.ts'

const run = promisify(execFile)

/**
 * `--metrics HOST:PORT` and `--ready-min-peers N` from the command line: bad values are usage
 * errors (exit 2) naming the flag before anything opens; a running `node start --metrics` serves
 * /livez, /readyz and /metrics, read with curl as the outside checker.
 */
describe('cli: --metrics and --ready-min-peers', function () {
  let mesh: TestMesh | undefined
  const procs: NodeProcess[] = []

  after(async () => {
    await Promise.all(procs.splice(0).map(async p => p.stop()))
    await mesh?.cleanup()
  })

  it('a bad --metrics address is a usage error naming the flag, on node start and on ca serve, before anything opens', async () => {
    // The directories do not exist: a check after opening would fail differently.
    const node = await runCli(['node', 'start', '--dir', '/nonexistent/dadm-node', '--metrics', 'nope'])
    expect(node.code).to.equal(2)
    expect(node.stderr).to.include('--metrics')
    expect(node.stderr).to.not.include('    at ')
    const ca = await runCli(['ca', 'serve', '--dir', '/nonexistent/dadm-ca', '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1'])
    expect(ca.code).to.equal(2)
    expect(ca.stderr).to.include('--metrics')
    expect(ca.stderr).to.not.include('    at ')
  })

  it('--ready-min-peers without --metrics, or not a whole number, is a usage error naming the flag', async () => {
    const alone = await runCli(['node', 'start', '--dir', '/nonexistent/dadm-node', '--ready-min-peers', '1'])
    expect(alone.code).to.equal(2)
    expect(alone.stderr).to.include('--ready-min-peers')
    expect(alone.stderr).to.include('--metrics')
    const bad = await runCli(['node', 'start', '--dir', '/nonexistent/dadm-node', '--metrics', '127.0.0.1:0', '--ready-min-peers', '-3'])
    expect(bad.code).to.equal(2)
    expect(bad.stderr).to.include('--ready-min-peers')
  })

  it('node start --metrics serves /livez, /readyz (503 alone: no member; 200 with --ready-min-peers 0 once the CRL is in) and /metrics, read by curl', async () => {
    mesh = await createTestMesh('cli-metrics')
    const dir = await mesh.enroll('metrics-1')
    const start = async (extra: string[]): Promise<{ proc: NodeProcess, url: string }> => {
      const proc = await spawnNode(['node', 'start', '--dir', dir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns', '--no-api', '--crl-interval', '500ms', '--metrics', '127.0.0.1:0', ...extra])
      procs.push(proc)
      const url = /; metrics (http:\/\/\S+)/.exec(proc.stderr())?.[1]
      expect(url, proc.stderr()).to.be.a('string')
      return { proc, url: url as string }
    }
    const curl = async (url: string): Promise<{ status: number, body: string }> => {
      const r = await run('curl', ['-s', '-w', '\n%{http_code}', '--max-time', '5', url])
      const lines = r.stdout.trimEnd().split('\n')
      return { status: Number(lines.pop()), body: lines.join('\n') }
    }
    // 1. Alone with the default (one member needed): live, not ready, and says which check fails.
    const a = await start([])
    expect((await curl(`${a.url}/livez`)).status).to.equal(200)
    const notReady = await curl(`${a.url}/readyz`)
    expect(notReady.status).to.equal(503)
    expect(JSON.parse(notReady.body).checks.find((c: { name: string }) => c.name === 'members')).to.deep.include({ ok: false })
    const metrics = await curl(`${a.url}/metrics`)
    expect(metrics.status).to.equal(200)
    expect(metrics.body).to.include('dadm_mesh_authenticated_peers 0')
    expect(metrics.body).to.include('libp2p_data_transfer_bytes_total')
    await a.proc.stop()

    // 2. Needing no member, it turns ready once its first CRL poll installed the CA's CRL.
    const b = await start(['--ready-min-peers', '0'])
    const deadline = Date.now() + 20_000
    let last = await curl(`${b.url}/readyz`)
    while (last.status !== 200 && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 200))
      last = await curl(`${b.url}/readyz`)
    }
    expect(last.status, last.body).to.equal(200)
    expect(JSON.parse(last.body).checks.map((c: { name: string }) => c.name)).to.deep.equal(['certificate', 'crl', 'members'])
  })
})
