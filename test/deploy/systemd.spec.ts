import { execFile } from 'node:child_process'
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { checkCommandLine } from './cli-lines.ts'

const run = promisify(execFile)
const UNITS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'systemd')
const UNITS = ['dadm-mesh-ca.service', 'dadm-mesh-node.service', 'dadm-mesh-bootstrap.service']
/** `systemd-analyze security` scores 0 (locked down) to 10 (exposed); "OK" ends at 4.9. */
const MAX_EXPOSURE = 2.5

/** systemd-analyze from Debian's systemd package; without it the checks cannot run. */
async function hasSystemdAnalyze (): Promise<boolean> {
  return run('systemd-analyze', ['--version']).then(() => true, () => false)
}

/** `systemd-analyze verify` on unit files copied into a fresh directory: exit code and every line it printed. */
async function verify (dir: string, names: string[]): Promise<{ code: number, output: string }> {
  try {
    const r = await run('systemd-analyze', ['verify', ...names.map(n => join(dir, n))], { timeout: 60_000 })
    return { code: 0, output: (r.stdout + r.stderr).trim() }
  } catch (err: any) {
    return { code: err.code ?? 1, output: `${String(err.stdout ?? '')}${String(err.stderr ?? '')}`.trim() }
  }
}

/** The [Service] settings of a unit, key to values (repeated keys keep every value). */
function serviceSettings (text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) { continue }
    const s = /^\[(.+)\]$/.exec(line)
    if (s != null) { section = s[1]; continue }
    if (section !== 'Service') { continue }
    const i = line.indexOf('=')
    out.set(line.slice(0, i), [...(out.get(line.slice(0, i)) ?? []), line.slice(i + 1)])
  }
  return out
}

/**
 * The systemd units in deploy/systemd: `systemd-analyze verify` accepts them without a single
 * warning, `systemd-analyze security` rates them well locked down, they carry the hardening the
 * operations guide promises, and their ExecStart= lines are command lines the CLI accepts.
 */
describe('deploy: systemd units', function () {
  this.timeout(120_000)
  let work: string

  before(async function () {
    if (!(await hasSystemdAnalyze())) {
      // Written rule: needs systemd-analyze (Debian package systemd).
      this.skip()
    }
    work = await mkdtemp(join(tmpdir(), 'dadm-units-'))
    for (const u of UNITS) { await copyFile(join(UNITS_DIR, u), join(work, u)) }
  })
  after(async () => { if (work != null) { await rm(work, { recursive: true, force: true }) } })

  it('deploy/systemd holds exactly the three units and the sysusers file', async () => {
    expect((await readdir(UNITS_DIR)).sort()).to.deep.equal([...UNITS, 'dadm-mesh.sysusers.conf'].sort())
  })

  it('systemd-analyze verify passes on every unit, with no warning at all', async () => {
    const r = await verify(work, UNITS)
    expect(r.output).to.equal('')
    expect(r.code).to.equal(0)
  })

  it('the check fails on a misspelt hardening key (verify warns, the test must see it)', async () => {
    const text = await readFile(join(work, UNITS[0]), 'utf8')
    await writeFile(join(work, 'dadm-mesh-typo.service'), text.replace('ProtectSystem=strict', 'ProtectSytem=strict'))
    const r = await verify(work, ['dadm-mesh-typo.service'])
    expect(r.output).to.match(/Unknown key/)
  })

  it('systemd-analyze security rates each unit at most 2.5 (well inside "OK")', async () => {
    for (const u of UNITS) {
      const r = await run('systemd-analyze', ['security', '--offline=true', join(work, u)], { timeout: 60_000 }).catch((err: any) => err)
      const m = /Overall exposure level for \S+: (\d+\.\d)/.exec(`${String(r.stdout)}${String(r.stderr)}`)
      expect(m, `${u}: ${String(r.stderr)}`).to.not.equal(null)
      expect(Number(m?.[1]), u).to.be.at.most(MAX_EXPOSURE)
    }
  })

  it('each unit runs as dadm-mesh, ProtectSystem=strict, NoNewPrivileges, no capabilities, passphrase by LoadCredential', async () => {
    for (const u of UNITS) {
      const s = serviceSettings(await readFile(join(UNITS_DIR, u), 'utf8'))
      const one = (k: string): string | undefined => s.get(k)?.[s.get(k)!.length - 1]
      expect(one('User'), u).to.equal('dadm-mesh')
      expect(one('ProtectSystem'), u).to.equal('strict')
      expect(one('NoNewPrivileges'), u).to.equal('yes')
      expect(one('CapabilityBoundingSet'), u).to.equal('')
      expect(one('UMask'), u).to.equal('0077')
      expect(one('LoadCredential'), u).to.match(/^passphrase:\/etc\/dadm-mesh\/[a-z]+\.passphrase$/)
      expect(one('ExecStart'), u).to.include('--passphrase-file %d/passphrase')
      // V8's JIT needs writable executable memory: the unit must not forbid it
      expect(s.has('MemoryDenyWriteExecute'), u).to.equal(false)
      // no passphrase in the environment or on the command line
      expect(one('ExecStart'), u).to.not.match(/DADM_MESH_PASSPHRASE|--passphrase /)
      expect(s.has('Environment'), u).to.equal(false)
    }
  })

  it('node and bootstrap units do not restart a revoked node (exit 3); the CA unit names its metrics listener', async () => {
    for (const u of ['dadm-mesh-node.service', 'dadm-mesh-bootstrap.service']) {
      expect(serviceSettings(await readFile(join(UNITS_DIR, u), 'utf8')).get('RestartPreventExitStatus'), u).to.deep.equal(['3'])
    }
    expect(serviceSettings(await readFile(join(UNITS_DIR, UNITS[0]), 'utf8')).get('ExecStart')?.[0]).to.match(/--metrics 127\.0\.0\.1:\d+/)
  })

  it('every ExecStart= is a command line the CLI accepts (ca serve, node start, bootstrap-server)', async () => {
    const names: string[] = []
    for (const u of UNITS) {
      const exec = serviceSettings(await readFile(join(UNITS_DIR, u), 'utf8')).get('ExecStart')?.[0] ?? ''
      const argv = exec.split(/\s+/)
      const at = argv.findIndex(a => a.endsWith('/dadm-mesh.js'))
      expect(at, u).to.be.greaterThan(0)
      names.push(checkCommandLine(argv.slice(at + 1).map(a => a.replace('%d', '/run/credentials/x'))))
    }
    expect(names).to.deep.equal(['ca serve', 'node start', 'bootstrap-server'])
    expect(() => checkCommandLine(['node', 'start', '--dir', 'x', '--metric', '127.0.0.1:1'])).to.throw(/--metric/)
  })
})
