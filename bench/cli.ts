import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COMMANDS } from '../src/cli/main.ts'
import { openNodeCredentials } from '../src/daemon/runtime/node-credentials.ts'
import { median } from './types.ts'
import type { BenchResult } from './types.ts'
import type { ChildProcess } from 'node:child_process'

/**
 * CLI start-up: how long an operator waits for `dadm-mesh --help`, `node peers`, `node status`
 * and `gossip list` against a running node, each as a fresh process (the bin, as installed),
 * next to a bare `node -e 0` measured in the same run and interleaved with them, so that the load
 * of a shared machine weighs on both alike. Goal: each within 10x the bare start.
 * The setup is what an operator does: `ca init`, `ca serve`, `ca token`, `node enroll` (the
 * default key cost) and `node start`, all through the bin, started and stopped by pid.
 * Printed besides: what opening the node's identity key alone costs (scrypt at the default
 * cost), which `node peers` and `gossip list` pay only when NODEDIR/api.sock does not answer and
 * they fall back to signing an mTLS API session as the node.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const BIN = join(ROOT, 'bin', 'dadm-mesh.js')
/** `npm run build` output; measured next to the sources when present, whether or not it is current. */
const BUILT_MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js')

/** Runs `main` of one entry (sources or build) directly, without the bin's choice between them. */
function entryArgs (main: string, argv: string[]): string[] {
  return ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(${JSON.stringify(argv)}, { stdout: process.stdout, stderr: process.stderr, env: process.env })`]
}
const PASS = 'bench cli passphrase'
const ENV = { ...process.env, DADM_MESH_PASSPHRASE: PASS }
/** Rounds of the interleaved measurement; the median of each is reported. */
const ROUNDS = 7
/** Every child must be done by then: a stuck one fails the bench instead of hanging it. */
const CHILD_MS = 60_000

interface Done { code: number, stdout: string, stderr: string, ms: number }

async function runOnce (args: string[]): Promise<Done> {
  const start = performance.now()
  const child = spawn(process.execPath, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args.join(' ')} did not exit within ${CHILD_MS} ms`)) }, CHILD_MS)
    child.once('exit', c => { clearTimeout(timer); resolve(c ?? -1) })
  })
  return { code, stdout, stderr, ms: performance.now() - start }
}

async function cli (args: string[]): Promise<Done> {
  const r = await runOnce([BIN, ...args])
  if (r.code !== 0) { throw new Error(`dadm-mesh ${args.join(' ')} exited ${r.code}: ${r.stderr}`) }
  return r
}

/** Starts a long-running command and resolves once `pattern` shows on its stderr (bounded). */
async function startDaemon (args: string[], pattern: RegExp): Promise<{ child: ChildProcess, match: RegExpExecArray }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${args.join(' ')} did not start: ${err}`)) }, CHILD_MS)
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString()
      const m = pattern.exec(err)
      if (m != null) { clearTimeout(timer); resolve(m) }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`${args.join(' ')} exited ${String(code)}: ${err}`)) })
  })
  return { child, match }
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode != null || child.signalCode != null || child.pid == null) { return }
  const exited = new Promise(resolve => { child.once('exit', resolve) })
  process.kill(child.pid, 'SIGTERM')
  const timer = setTimeout(() => { if (child.pid != null && child.exitCode == null) { process.kill(child.pid, 'SIGKILL') } }, 15_000)
  await exited
  clearTimeout(timer)
}

export async function benchCli (): Promise<BenchResult[]> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-cli-'))
  const daemons: ChildProcess[] = []
  try {
    const ca = join(base, 'ca')
    const node = join(base, 'node')
    await cli(['ca', 'init', '--dir', ca])
    // The CA's own mesh node is not what is measured here.
    const serveArgs = ['ca', 'serve', '--dir', ca, '--listen', '127.0.0.1:0', ...('no-mesh' in COMMANDS['ca serve'].spec.options ? ['--no-mesh'] : [])]
    const serve = await startDaemon(serveArgs, /listening on (https:\/\/\S+);/)
    daemons.push(serve.child)
    const token = (await cli(['ca', 'token', '--dir', ca])).stdout.trim()
    const tokenFile = join(base, 'token')
    await writeFile(tokenFile, token, { mode: 0o600 })
    await cli(['node', 'enroll', '--dir', node, '--ca-url', serve.match[1], '--ca-cert', join(ca, 'root.pem'), '--token-file', tokenFile, '--node-id', 'bench-cli'])
    const started = await startDaemon(['node', 'start', '--dir', node, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns'], /listening on .*; api /)
    daemons.push(started.child)

    const cases: Array<{ name: string, args: string[] }> = [
      { name: '--help', args: ['--help'] },
      { name: 'node peers', args: ['node', 'peers', '--dir', node] },
      ...(COMMANDS['node status'] != null ? [{ name: 'node status', args: ['node', 'status', '--dir', node] }] : []),
      { name: 'gossip list', args: ['gossip', 'list', '--dir', node] }
    ]
    // Sources against the build, for the same commands, each started directly (not through the bin).
    const variants: Array<{ name: string, args: string[] }> = existsSync(BUILT_MAIN)
      ? ['--help', 'node peers'].flatMap(n => {
          const argv = n === '--help' ? ['--help'] : ['node', 'peers', '--dir', node]
          return [
            { name: `${n}, sources (type stripping)`, args: entryArgs(join(ROOT, 'src', 'cli', 'main.ts'), argv) },
            { name: `${n}, built JavaScript (dist/)`, args: entryArgs(BUILT_MAIN, argv) }
          ]
        })
      : []
    const bare: number[] = []
    const times = new Map<string, number[]>([...cases, ...variants].map(c => [c.name, []]))
    // Interleaved: each round runs the baseline and every command once, so load swings hit all alike.
    for (let round = 0; round < ROUNDS + 1; round++) {
      const b = await runOnce(['-e', '0'])
      for (const c of cases) {
        const r = await cli(c.args)
        // The first round warms the disk cache for every file the commands read; it is not counted.
        if (round > 0) { times.get(c.name)?.push(r.ms) }
      }
      for (const v of variants) {
        const r = await runOnce(v.args)
        if (r.code !== 0) { throw new Error(`${v.name} exited ${r.code}: ${r.stderr}`) }
        if (round > 0) { times.get(v.name)?.push(r.ms) }
      }
      if (round > 0) { bare.push(b.ms) }
    }
    const baseline = median(bare)
    const keyMs: number[] = []
    for (let i = 0; i < 3; i++) {
      const t = performance.now()
      const creds = await openNodeCredentials(node, PASS)
      keyMs.push(performance.now() - t)
      await creds.closeIdentity()
    }
    return [
      { name: 'node -e 0 (bare Node start, baseline)', value: baseline, unit: 'ms' },
      ...cases.map(c => {
        const ms = median(times.get(c.name) ?? [])
        const ratio = ms / baseline
        return { name: `dadm-mesh ${c.name}`, value: ms, unit: 'ms', baseline: 'node -e 0', ratio, goal: '<= 10', met: ratio <= 10 }
      }),
      { name: 'mTLS fallback only: opening the identity key (scrypt, default cost)', value: median(keyMs), unit: 'ms' },
      ...variants.map(v => ({ name: `main() ${v.name}`, value: median(times.get(v.name) ?? []), unit: 'ms', baseline: 'node -e 0', ratio: median(times.get(v.name) ?? []) / baseline, goal: 'none: for comparison' }))
    ]
  } finally {
    for (const d of daemons.reverse()) { await stop(d) }
    await rm(base, { recursive: true, force: true })
  }
}
