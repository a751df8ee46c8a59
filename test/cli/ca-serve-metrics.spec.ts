import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { hasPrometheusTools, promtoolCheckMetrics } from '../metrics/tools.ts'
import { LOOPBACK_MESH, startServe } from './serve-process.ts'
import type { ServeProcess } from './serve-process.ts'

const run = promisify(execFile)
const PASS = 'ca serve metrics pass'
const ENV = { DADM_MESH_PASSPHRASE: PASS }

/**
 * `ca serve --metrics` as its own process, with its mesh node on (the default): one listener
 * serves the CA's metrics and its mesh node's from one registry, `/readyz` reports the CA's checks
 * (key loaded, store open), and minting a token through the running service moves the token
 * counters. Read with curl; linted with promtool.
 */
/** The value of an unlabelled sample in an exposition text. */
function sample (text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  if (m == null) { throw new Error(`no ${name} in the exposition`) }
  return Number(m[1])
}

describe('cli: ca serve --metrics', function () {
  let base: string
  let serve: ServeProcess | undefined

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-ca-metrics-'))
    const ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    await ca.close()
  })
  after(async () => {
    if (serve != null && serve.child.exitCode == null) {
      process.kill(serve.child.pid as number, 'SIGTERM')
      await serve.exited
    }
    await rm(base, { recursive: true, force: true })
  })

  const curl = async (url: string): Promise<{ status: number, body: string }> => {
    const r = await run('curl', ['-s', '-w', '\n%{http_code}', '--max-time', '5', url])
    const lines = r.stdout.trimEnd().split('\n')
    return { status: Number(lines.pop()), body: lines.join('\n') }
  }

  it('serves CA and mesh-node metrics from one listener, /readyz with ca_key and store, and counts a minted token', async () => {
    serve = await startServe(join(base, 'ca'), ENV, [...LOOPBACK_MESH, '--metrics', '127.0.0.1:0'])
    const url = /metrics and health on (http:\/\/\S+)/.exec(serve.stderr())?.[1]
    expect(url, serve.stderr()).to.be.a('string')

    // 1. Ready: the key is loaded and the store is open.
    const ready = await curl(`${url}/readyz`)
    expect(ready.status).to.equal(200)
    expect(JSON.parse(ready.body).checks.map((c: { name: string, ok: boolean }) => [c.name, c.ok])).to.deep.equal([['ca_key', true], ['store', true]])

    // 2. One registry: the CA's metrics and its mesh node's.
    const before = (await curl(`${url}/metrics`)).body
    expect(before).to.include('dadm_mesh_ca_tokens_outstanding 0')
    expect(before).to.include('dadm_mesh_authenticated_peers 0')
    expect(before).to.match(/dadm_mesh_ca_crl_number\{scope="issuing"\} \d+/)

    // 3. A token minted through the running service (admin socket) moves both token metrics.
    let stdout = ''
    const code = await main(['ca', 'token', '--dir', join(base, 'ca')], { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: () => {} }, env: ENV })
    expect(code, stdout).to.equal(0)
    const after = (await curl(`${url}/metrics`)).body
    // The CA's own mesh node enrolled with a token of its own at start: count from what was there.
    expect(sample(after, 'dadm_mesh_ca_tokens_minted_total')).to.equal(sample(before, 'dadm_mesh_ca_tokens_minted_total') + 1)
    expect(after).to.include('dadm_mesh_ca_tokens_outstanding 1')

    if (hasPrometheusTools()) {
      const lint = await promtoolCheckMetrics(after)
      expect(lint.stdout + lint.stderr).to.equal('')
      expect(lint.code).to.equal(0)
    }
  })
})
