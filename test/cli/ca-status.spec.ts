import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { runMain } from './run-main.ts'
import type { CliRun } from './run-main.ts'

/** `ca status` with no service running: read-only, from the files and the store, with no passphrase. */
describe('cli: ca status without a running service', function () {
  let base: string
  let dir: string
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-castatus-'))
    dir = join(base, 'ca')
    const ca = await MeshCa.init({ dir, passphrase: 'ca status pass', now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    await ca.close()
  })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  async function run (argv: string[]): Promise<CliRun> {
    // No DADM_MESH_PASSPHRASE: a read-only command must not ask for one.
    return runMain(argv, {})
  }

  it('ca-status-offline: says the service is not running, lists the root, the CRL and notices; no NO_PASSPHRASE', async () => {
    const r = await run(['ca', 'status', '--dir', dir])
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stderr).to.not.include('NO_PASSPHRASE')
    expect(r.stdout).to.match(/service\s+not running/)
    expect(r.stdout).to.match(/certificate\s+.*valid until/)
    const j = JSON.parse((await run(['ca', 'status', '--dir', dir, '--json'])).stdout)
    expect(j.service).to.equal(null)
    expect(j.certificates.length).to.be.greaterThan(0)
    expect(j.notices).to.equal(0)
  })

  it('read-only-no-passphrase: ca crl prints the stored CRL without a passphrase; only signing a new one needs it', async () => {
    let first = ''
    const code = await main(['ca', 'crl', '--dir', dir], { stdout: { write: (t: string) => { first += t } }, stderr: { write: () => {} }, env: { DADM_MESH_PASSPHRASE: 'ca status pass' } })
    expect(code).to.equal(0)
    const r = await run(['ca', 'crl', '--dir', dir])
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stderr).to.not.include('NO_PASSPHRASE')
    expect(r.stdout).to.equal(first)
    expect(r.stdout).to.include('BEGIN X509 CRL')
  })

  it('a directory that is no CA is NOT_A_CA naming --dir, exit 1', async () => {
    const r = await run(['ca', 'status', '--dir', join(base, 'nothing')])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.include('--dir')
    expect(r.stderr).to.not.match(/\n\s+at /)
  })
})
