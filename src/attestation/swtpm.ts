import { spawn } from 'node:child_process'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { createConnection, createServer } from 'node:net'
import { promisify } from 'node:util'
import { childProcessEnv } from '../util/child-env.ts'
import type { ChildProcess } from 'node:child_process'

/**
 * A software TPM (swtpm) for tests, benchmarks and demos: its own state directory, a TCP
 * server port P and control port P+1 on loopback, started and stopped by pid. Use its `tcti`
 * with `Tpm`.
 */

const run = promisify(execFile)
const HOST = '127.0.0.1'
/** swtpm is up in ~50 ms here; 10 s bounds a loaded CI machine. */
const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 5_000
/** Port races (another process takes P or P+1 between our probe and swtpm's bind) are retried. */
const START_ATTEMPTS = 5

/** Why swtpm cannot run here, or undefined when swtpm and tpm2-tools are installed. */
export async function swtpmMissing (): Promise<string | undefined> {
  for (const [cmd, pkg] of [['swtpm', 'swtpm'], ['tpm2_quote', 'tpm2-tools'], ['tpm2_checkquote', 'tpm2-tools']]) {
    try {
      await run(cmd, ['--version'], { timeout: 10_000, env: childProcessEnv() })
    } catch (err: any) {
      if (err.code === 'ENOENT') { return `${cmd} is not on the PATH (Debian package ${pkg})` }
    }
  }
  return undefined
}

async function portFree (port: number): Promise<boolean> {
  const srv = createServer()
  try {
    srv.listen(port, HOST)
    await once(srv, 'listening')
    return true
  } catch {
    return false
  } finally {
    srv.close()
  }
}

/** A port P such that P and P+1 were both free a moment ago (the OS picks P). */
async function freePortPair (): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const srv = createServer()
    srv.listen(0, HOST)
    await once(srv, 'listening')
    const port = (srv.address() as { port: number }).port
    srv.close()
    await once(srv, 'close')
    if (port < 65535 && await portFree(port + 1)) { return port }
  }
  throw new Error('no free pair of loopback ports')
}

async function connects (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = createConnection({ host: HOST, port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { s.destroy(); resolve(false) })
  })
}

export class Swtpm {
  readonly port: number
  readonly ctrlPort: number
  readonly #child: ChildProcess

  private constructor (port: number, child: ChildProcess) {
    this.port = port
    this.ctrlPort = port + 1
    this.#child = child
  }

  get pid (): number | undefined { return this.#child.pid }

  /** The TCTI string for tpm2-tools and tpm2-pkcs11. */
  get tcti (): string { return `swtpm:host=${HOST},port=${this.port}` }

  /** Starts swtpm on a free loopback port with its state in `stateDir` (which must exist). */
  static async start (init: { stateDir: string }): Promise<Swtpm> {
    let lastError = ''
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      const port = await freePortPair()
      const child = spawn('swtpm', [
        'socket', '--tpm2',
        '--server', `type=tcp,port=${port},bindaddr=${HOST}`,
        '--ctrl', `type=tcp,port=${port + 1},bindaddr=${HOST}`,
        '--tpmstate', `dir=${init.stateDir}`,
        '--flags', 'not-need-init,startup-clear'
      ], { stdio: ['ignore', 'ignore', 'pipe'], env: childProcessEnv() })
      let stderr = ''
      child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 4096) { stderr += d.toString() } })
      const status = { exited: false }
      child.once('exit', () => { status.exited = true })
      child.once('error', (err) => { status.exited = true; stderr += err.message })
      const deadline = Date.now() + START_TIMEOUT_MS
      while (!status.exited && Date.now() < deadline) {
        if (await connects(port + 1)) { return new Swtpm(port, child) }
        await new Promise(resolve => setTimeout(resolve, 25))
      }
      if (!status.exited) { child.kill('SIGKILL') }
      const why = status.exited ? 'swtpm exited' : 'swtpm did not open its port in time'
      lastError = stderr.trim() !== '' ? stderr.trim() : why
    }
    throw new Error(`cannot start swtpm: ${lastError}`)
  }

  /** Stops swtpm by pid: SIGTERM, then SIGKILL if it has not exited within 5 s. */
  async stop (): Promise<void> {
    const child = this.#child
    if (child.exitCode != null || child.signalCode != null) { return }
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    try {
      await exited
    } finally {
      clearTimeout(timer)
    }
  }
}
