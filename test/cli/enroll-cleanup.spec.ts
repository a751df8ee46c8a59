import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { isValidNodeId } from '../../src/pki/node-identity.ts'
import { generateToken, tokenIdOf } from '../../src/store/token-store.ts'
import { runMain } from './run-main.ts'
import { startServe } from './serve-process.ts'
import type { CliRun } from './run-main.ts'
import type { ServeProcess } from './serve-process.ts'
import type { ChildProcess } from 'node:child_process'

const PASS = 'enroll cleanup cli pass'
const ENV = { DADM_MESH_PASSPHRASE: PASS }

async function run (argv: string[]): Promise<CliRun> {
  return runMain(argv, ENV)
}

const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false)

/**
 * `node enroll` against `ca serve` (its own process): a refused enrollment leaves no key
 * directory and no key file behind; two directories under the default node_id (the host name)
 * get NODE_ID_TAKEN with a message that says what to do; and `ca serve` writes the event log
 * (token minted, enrollment accepted/refused) as JSON entries that never carry a token.
 */
describe('cli: node enroll leaves nothing behind when refused; ca serve logs the decisions', function () {
  this.timeout(180_000)
  let base: string
  let caDir: string
  let rootFile: string
  let serve: ServeProcess | undefined

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-enroll-cleanup-'))
    caDir = join(base, 'ca')
    const ca = await MeshCa.init({ dir: caDir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    rootFile = join(base, 'root.pem')
    await writeFile(rootFile, ca.rootPem)
    await ca.close()
    serve = await startServe(caDir, ENV)
  })

  after(async () => {
    if (serve != null && serve.child.exitCode == null) {
      serve.child.kill('SIGTERM')
      await serve.exited
    }
    await rm(base, { recursive: true, force: true })
  })

  const token = async (extra: string[] = []): Promise<string> => {
    const r = await run(['ca', 'token', '--dir', caDir, ...extra])
    expect(r.code).to.equal(0)
    return r.stdout.trim()
  }
  const enroll = async (dir: string, t: string, extra: string[] = []): Promise<CliRun> =>
    run(['node', 'enroll', '--dir', dir, '--ca-url', serve?.url as string, '--ca-cert', rootFile, '--token', t, ...extra])
  const events = (): any[] => (serve?.stdout() ?? '').split('\n').filter(l => l !== '').map(l => JSON.parse(l)).filter(l => typeof l.event === 'string')

  it('a refused enrollment (unknown token) exits 1 with TOKEN_REJECTED and leaves no NODEDIR, no keys', async () => {
    const dir = join(base, 'nodes', 'refused', 'n1')
    const r = await enroll(dir, generateToken(), ['--node-id', 'cleanup-1'])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.include('TOKEN_REJECTED')
    expect(r.stderr).to.not.include('    at ')
    // Not the directory, nor the parents the attempt made for it.
    expect(await exists(dir)).to.equal(false)
    expect(await exists(join(base, 'nodes'))).to.equal(false)
  })

  it('a refused enrollment into an existing directory removes what it made and keeps what was there', async () => {
    const dir = join(base, 'pre-existing')
    await mkdir(dir, { mode: 0o700 })
    await writeFile(join(dir, 'operator-notes.txt'), 'mine\n')
    const r = await enroll(dir, generateToken(), ['--node-id', 'cleanup-2'])
    expect(r.code).to.equal(1)
    expect((await readdir(dir)).sort()).to.deep.equal(['operator-notes.txt'])
  })

  it('two directories under the default node_id (this host\'s name): the second gets NODE_ID_TAKEN naming the node_id and --node-id, and leaves nothing', async function () {
    // Written rule: the default node_id is the host name, which must be a valid node_id to test it.
    if (!isValidNodeId(hostname())) { this.skip() }
    const first = join(base, 'dup-a')
    const second = join(base, 'dup-b')
    expect((await enroll(first, await token())).code).to.equal(0)
    const t = await token()
    const r = await enroll(second, t)
    expect(r.code).to.equal(1)
    expect(r.stderr).to.include('NODE_ID_TAKEN').and.to.include('HTTP 409')
    expect(r.stderr).to.include(`node_id ${JSON.stringify(hostname())}`)
    expect(r.stderr).to.include('this host\'s name')
    expect(r.stderr).to.include('--node-id ID')
    expect(r.stderr).to.include(`ca token --node-id ${hostname()} --replace`)
    expect(r.stderr).to.not.include('    at ')
    expect(await exists(second)).to.equal(false)
    // The token was not spent: the same directory enrolls under a node_id of its own.
    const again = await enroll(second, t, ['--node-id', `${hostname()}-2`.slice(0, 64)])
    expect(again.code).to.equal(0)
    expect(again.stdout).to.include(`enrolled ${hostname()}-2`)
  })

  it('ca serve logs token minted and enrollment refused/accepted as JSON entries, with ids and no token text', async () => {
    const minted = await token(['--node-id', 'cleanup-log'])
    const dir = join(base, 'logged')
    expect((await enroll(dir, minted, ['--node-id', 'cleanup-log'])).code).to.equal(0)
    // The same token again: used.
    expect((await enroll(join(base, 'logged-again'), minted, ['--node-id', 'cleanup-log'])).code).to.equal(1)
    const id = tokenIdOf(minted)
    await waitForOutput(serve?.child as ChildProcess, () => events().some(e => e.event === 'enroll-refused' && e.token_id === id))
    const mine = events().filter(e => e.token_id === id)
    expect(mine.map(e => e.event)).to.deep.equal(['token-minted', 'enroll-accepted', 'enroll-refused'])
    expect(mine[0]).to.include({ node_id: 'cleanup-log', uses: 1, replace: false, msg: 'token minted' })
    expect(mine[1]).to.include({ node_id: 'cleanup-log', msg: 'enrollment accepted' })
    expect(mine[2]).to.include({ code: 'TOKEN_REJECTED', token_refusal: 'used', node_id: 'cleanup-log', msg: 'enrollment refused' })
    expect(serve?.stdout()).to.not.include(minted)
    expect(serve?.stdout()).to.not.include('dmt1_')
  })
})

/** Waits (bounded) for the child's stdout to satisfy `check`, re-checking on each chunk it writes. */
async function waitForOutput (child: ChildProcess, check: () => boolean, ms = 10_000): Promise<void> {
  if (check()) { return }
  await new Promise<void>((resolve, reject) => {
    const onData = (): void => {
      if (check()) { clearTimeout(timer); child.stdout?.off('data', onData); resolve() }
    }
    const timer = setTimeout(() => { child.stdout?.off('data', onData); reject(new Error(`ca serve did not log it within ${ms} ms`)) }, ms)
    child.stdout?.on('data', onData)
  })
}
