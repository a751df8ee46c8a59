import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { BIN } from '../daemon/runtime/harness.ts'

/**
 * Commands load only what they use: the bin runs in a child process whose module loader records
 * every module it loads (a loader hook registered with --import), and the heavy packages must not
 * be among them. `--help` loads no package at all; the commands that only ask a running node
 * (`node peers`, `gossip list`, `node status`) load neither libp2p nor fastify nor LevelDB nor the
 * PKCS#11 stack.
 */

const HOOK = 'import { appendFileSync } from "node:fs"; export async function load (url, ctx, next) { const r = await next(url, ctx); appendFileSync(process.env.DADM_TEST_LOADS, url + "\\n"); return r }'
const REGISTER = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}))`

/** Packages a read-only command has no use for: each costs hundreds of milliseconds to load. */
const HEAVY = ['/libp2p/', '/@libp2p/', '/@chainsafe/', '/fastify/', '/level/', '/classic-level/', '/pino/', '/graphene-pk11/', '/node-webcrypto-p11/', '/@sinclair/typebox/']

describe('cli lazy loading', function () {
  let dir: string

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-cli-lazy-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  /** The URLs of the modules `dadm-mesh <argv>` loads (it must exit within 30 s). */
  async function loads (argv: string[]): Promise<string[]> {
    const file = join(dir, `${argv.join('_').replace(/[^\w-]/g, '')}.txt`)
    const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, BIN, ...argv], {
      env: { ...process.env, DADM_TEST_LOADS: file },
      stdio: ['ignore', 'ignore', 'ignore']
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${argv.join(' ')} did not exit in 30 s`)) }, 30_000)
      child.once('exit', () => { clearTimeout(timer); resolve() })
    })
    return (await readFile(file, 'utf8')).split('\n').filter(l => l !== '')
  }

  it('--help, a command\'s --help and --version load no package', async () => {
    for (const argv of [['--help'], ['node', 'start', '--help'], ['ca', 'serve', '-h'], ['--version']]) {
      const urls = await loads(argv)
      expect(urls.some(u => u.includes('/cli/main.')), argv.join(' ')).to.equal(true)
      expect(urls.filter(u => u.includes('/node_modules/')), argv.join(' ')).to.deep.equal([])
    }
  })

  it('node peers, gossip list and node status load none of libp2p, fastify, LevelDB, pino or PKCS#11', async () => {
    for (const argv of [['node', 'peers'], ['gossip', 'list'], ['node', 'status']]) {
      // A directory with no node: the command loads its code, then fails NOT_RUNNING or the like.
      const urls = await loads([...argv, '--dir', join(dir, 'no-node')])
      expect(urls.some(u => /\/cli\/commands\/(node-peers|gossip|node-status)\./.test(u)), argv.join(' ')).to.equal(true)
      expect(urls.filter(u => HEAVY.some(h => u.includes(`/node_modules${h}`))), argv.join(' ')).to.deep.equal([])
    }
  })
})
