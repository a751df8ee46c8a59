import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { enrollNode } from '../../../src/daemon/enroll/enroll-node.ts'
import { MIN_SCRYPT_LOG_N } from '../../../src/identity/key-file.ts'
import { runMain } from '../../cli/run-main.ts'
import { startService } from '../../enrollment/harness.ts'
import type { PeerTableRow } from '../../../src/node/peer-table.ts'
import type { Service } from '../../enrollment/harness.ts'
import type { ChildProcess } from 'node:child_process'

/**
 * Shared pieces of the node-process suites: a real CA behind the real enrollment HTTP service,
 * node directories enrolled through it (`enrollNode`, what `dadm-mesh node enroll` runs), and
 * `dadm-mesh node start` / `bootstrap-server` as child processes started and stopped by pid.
 */

export const PASS = 'node runtime test passphrase'
export const ENV = { DADM_MESH_PASSPHRASE: PASS }
export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'dadm-mesh.js')

export interface TestMesh {
  base: string
  svc: Service
  /**
   * Enrolls `nodeId` into a fresh NODEDIR through POST /v1/enroll; returns the directory. With
   * `cli`, through `dadm-mesh node enroll` itself (default key-file cost: slower to open).
   */
  enroll(nodeId: string, opts?: { cli?: boolean }): Promise<string>
  cleanup(): Promise<void>
}

/** A CA served over HTTPS on loopback, its CRL URL pointing at itself. */
export async function createTestMesh (name: string): Promise<TestMesh> {
  const base = await mkdtemp(join(tmpdir(), `dadm-${name}-`))
  const svc = await startService()
  svc.service.useCrlUrl(`${svc.url}/v1/crl`)
  return {
    base,
    svc,
    async enroll (nodeId, opts = {}) {
      const dir = join(base, nodeId)
      const { token } = await svc.service.createToken({ ttlMs: 600_000, uses: 1 }, svc.clock.now())
      if (opts.cli === true) {
        const rootFile = join(base, 'mesh-root.pem')
        await writeFile(rootFile, svc.rootPem)
        const r = await runCli(['node', 'enroll', '--dir', dir, '--ca-url', svc.url, '--ca-cert', rootFile, '--token', token, '--node-id', nodeId])
        if (r.code !== 0) { throw new Error(`node enroll failed: ${r.stderr}`) }
        return dir
      }
      await enrollNode({ dir, caUrl: svc.url, caCertPem: svc.rootPem, token, nodeId, passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, timeoutMs: 10_000 })
      return dir
    },
    async cleanup () {
      await svc.cleanup()
      await rm(base, { recursive: true, force: true })
    }
  }
}

export interface NodeProcess {
  child: ChildProcess
  pid: number
  /** The multiaddrs it printed on start. */
  addrs: string[]
  stderr(): string
  stdout(): string
  /** SIGTERM, then wait for the exit (SIGKILL after `ms`); resolves the exit code. */
  stop(ms?: number): Promise<number | null>
}

/** Starts `dadm-mesh <command...> --dir DIR ...` and waits (bounded) for its "listening on" line. */
export async function spawnNode (argv: string[], opts: { env?: Record<string, string>, wrap?: string[], startMs?: number } = {}): Promise<NodeProcess> {
  const wrap = opts.wrap ?? []
  const cmd = wrap.length > 0 ? wrap[0] : process.execPath
  const args = [...wrap.slice(1), ...(wrap.length > 0 ? [process.execPath] : []), BIN, ...argv]
  const child = spawn(cmd, args, { env: { ...process.env, ...ENV, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  let out = ''
  const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const addrs = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${argv.join(' ')} did not start in time: ${err}`)) }, opts.startMs ?? 30_000)
    const onData = (): void => {
      const m = /listening on (.*); api /.exec(err)
      if (m != null) { clearTimeout(timer); child.stderr?.off('data', onData); resolve(m[1].trim().split(/\s+/)) }
    }
    child.stderr?.on('data', onData)
    void exited.then(code => { clearTimeout(timer); reject(new Error(`${argv.join(' ')} exited with ${String(code)}: ${err}`)) })
  })
  return {
    child,
    pid: child.pid as number,
    addrs,
    stderr: () => err,
    stdout: () => out,
    async stop (ms = 15_000) {
      if (child.exitCode != null || child.signalCode != null) { return child.exitCode }
      process.kill(child.pid as number, 'SIGTERM')
      const timer = setTimeout(() => { if (child.exitCode == null) { process.kill(child.pid as number, 'SIGKILL') } }, ms)
      const code = await exited
      clearTimeout(timer)
      return code
    }
  }
}

export interface CliRun { code: number, stdout: string, stderr: string }

/** Runs `dadm-mesh <argv>` as a child process that must exit within `ms` (killed otherwise). */
export async function runChild (argv: string[], ms = 30_000): Promise<CliRun> {
  const child = spawn(process.execPath, [BIN, ...argv], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${argv.join(' ')} did not exit within ${ms} ms: ${stderr}`)) }, ms)
    child.once('exit', c => { clearTimeout(timer); resolve(c ?? -1) })
  })
  return { code, stdout, stderr }
}

/** Runs a CLI command in this process with captured output. */
export async function runCli (argv: string[]): Promise<CliRun> {
  return runMain(argv, ENV)
}

/** `dadm-mesh node peers --dir DIR --json`, parsed. */
export async function peersOf (dir: string): Promise<PeerTableRow[]> {
  const r = await runCli(['node', 'peers', '--dir', dir, '--json'])
  if (r.code !== 0) { throw new Error(`node peers failed (${r.code}): ${r.stderr}`) }
  return JSON.parse(r.stdout)
}

/** Polls `check` every `everyMs` until it holds or `ms` pass (state that lives in another process has no event here). */
export async function eventuallyAsync (check: () => Promise<boolean>, ms: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) { throw new Error(`condition not met within ${ms} ms`) }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}
