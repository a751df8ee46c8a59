import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'

const run = promisify(execFile)
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const RULES = join(ROOT, 'deploy', 'prometheus', 'dadm-mesh-alerts.yaml')

async function promtool (args: string[]): Promise<{ code: number, out: string }> {
  try {
    const r = await run('promtool', args, { timeout: 60_000 })
    return { code: 0, out: r.stdout + r.stderr }
  } catch (err: any) {
    return { code: typeof err.code === 'number' ? err.code : 1, out: `${String(err.stdout ?? '')}${String(err.stderr ?? '')}` }
  }
}

/** Every metric name an expression of the rules file reads. */
function metricNames (rulesText: string): string[] {
  const exprs = [...rulesText.matchAll(/^\s+expr: (.+)$/gm)].map(m => m[1])
  return [...new Set(exprs.flatMap(e => [...e.matchAll(/\b(dadm_mesh_[a-z_]+)/g)].map(m => m[1])))]
}

/**
 * The alert suggestions of docs/operations.md as a rules file: `promtool check rules` accepts it,
 * and every dadm-mesh metric it reads is one the code registers (a renamed metric would leave an
 * alert that can never fire).
 */
describe('deploy: Prometheus alert rules', function () {
  this.timeout(60_000)

  before(async function () {
    // Written rule: needs promtool (Debian package prometheus).
    if ((await promtool(['--version'])).code !== 0) { this.skip() }
  })

  it('promtool check rules accepts the rules file', async () => {
    const r = await promtool(['check', 'rules', RULES])
    expect(r.code, r.out).to.equal(0)
    expect(r.out).to.match(/SUCCESS: \d+ rules found/)
  })

  it('the check fails on a broken expression (the test can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dadm-rules-'))
    try {
      const bad = join(dir, 'bad.yaml')
      await writeFile(bad, (await readFile(RULES, 'utf8')).replace('dadm_mesh_authenticated_peers == 0', 'dadm_mesh_authenticated_peers == ('))
      expect((await promtool(['check', 'rules', bad])).code).to.not.equal(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('every dadm_mesh_* metric the rules read is registered somewhere in the sources', async () => {
    const names = metricNames(await readFile(RULES, 'utf8'))
    expect(names.length).to.be.at.least(10)
    const { stdout } = await run('grep', ['-rhoE', "'dadm_mesh_[a-z_]+'", join(ROOT, 'src'), join(ROOT, 'protocols')])
    const registered = new Set(stdout.split('\n').map(s => s.replace(/'/g, '')).filter(s => s !== ''))
    for (const n of names) { expect(registered.has(n), n).to.equal(true) }
  })
})
