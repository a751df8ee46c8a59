import { execFile, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'

/**
 * AutoNAT v2 confirming a public address, with addresses libp2p treats as public: two members in
 * one network namespace the test creates (11.78.0.1 and 11.78.0.2 on its loopback device, nothing
 * in the root namespace), run by a child process (test/node/autonat-ns-child.ts). A listens on
 * its public address, which it does not advertise until B, after B dialled it, dials it back.
 *
 * Skipped by the written rule "needs root for network namespaces" when not root (CI is root).
 */

const run = promisify(execFile)
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'autonat-ns-child.ts')
const PREFIX = 'dadm-autonat-'
const NS = `${PREFIX}${process.pid}`

async function ip (...args: string[]): Promise<string> {
  return (await run('ip', args, { timeout: 10_000 })).stdout
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Deletes namespaces of earlier runs whose process is gone (a run killed before its `after`). */
async function sweepStale (): Promise<void> {
  for (const line of (await ip('netns', 'list')).split('\n')) {
    const name = line.split(' ')[0]
    if (name?.startsWith(PREFIX) !== true) { continue }
    const pid = Number(name.slice(PREFIX.length))
    if (!isAlive(pid) || pid === process.pid) { await ip('netns', 'del', name).catch(() => {}) }
  }
}

interface ChildResult {
  error?: string
  listen: string
  before: { status: string, unconfirmed: string[] }
  advertisedBefore: string[]
  after: { status: string, verified: string[] }
  advertisedAfter: string[]
  servedByB: number
}

/** Runs the child in the namespace; kills it by pid if it outlives `ms`. */
async function runChild (ms: number): Promise<ChildResult> {
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, ...process.execArgv, '--no-warnings', CHILD], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { err += b.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, ms)
  const code = await new Promise<number | null>(resolve => { child.on('close', resolve) })
  clearTimeout(timer)
  const line = out.trim().split('\n').pop() ?? ''
  if (line === '') { throw new Error(`child exited ${String(code)} without a result: ${err.slice(-2000)}`) }
  return JSON.parse(line) as ChildResult
}

describe('AutoNAT v2 among members (network namespace, public addresses)', function () {
  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('      skipped: needs root for network namespaces (this process is not root)') // eslint-disable-line no-console
      this.skip()
    }
    await sweepStale()
    await ip('netns', 'add', NS)
    await ip('-n', NS, 'link', 'set', 'lo', 'up')
    await ip('-n', NS, 'addr', 'add', '11.78.0.1/32', 'dev', 'lo')
    await ip('-n', NS, 'addr', 'add', '11.78.0.2/32', 'dev', 'lo')
  })
  after(async () => {
    await ip('netns', 'del', NS).catch(() => {})
  })

  it('a member\'s public listen address stays unadvertised (unconfirmed) until another member dials it back; then it is verified and advertised (public)', async function () {
    this.timeout(90_000)
    const r = await runChild(60_000)
    expect(r.error, 'child error').to.equal(undefined)
    expect(r.before.status).to.equal('unconfirmed')
    expect(r.before.unconfirmed).to.deep.equal([r.listen])
    expect(r.advertisedBefore.some(a => a.startsWith(r.listen)), 'not advertised before').to.equal(false)
    expect(r.after.status).to.equal('public')
    expect(r.after.verified).to.deep.equal([r.listen])
    expect(r.advertisedAfter.some(a => a.startsWith(r.listen)), 'advertised after').to.equal(true)
    expect(r.servedByB, 'B\'s AutoNAT server answered A').to.be.greaterThan(0)
  })
})
