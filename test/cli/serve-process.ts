import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'

/** The CLI entry the suites run as a separate process, as an operator would. */
export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'dadm-mesh.js')

export interface ServeProcess {
  child: ChildProcess
  url: string
  stderr(): string
  stdout(): string
  exited: Promise<number | null>
}

/**
 * Where the CA's mesh node (on by default in `ca serve`) listens in the suites: loopback only,
 * since tests stay off the machine's other interfaces.
 */
export const LOOPBACK_MESH = ['--mesh-listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--mesh-listen', '/ip4/127.0.0.1/tcp/0']

/**
 * Starts `dadm-mesh ca serve` on 127.0.0.1 as its own process, with `env` added to ours, and
 * waits (at most 60 s) for its "listening on" line. The caller stops it by its pid. The CA's
 * mesh node runs, as it does by default, on loopback; `extra` replaces those flags (e.g. ['--no-mesh']).
 */
export async function startServe (dir: string, env: Record<string, string>, extra: string[] = LOOPBACK_MESH): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'ca', 'serve', '--dir', dir, '--listen', '127.0.0.1:0', ...extra], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let err = ''
  let out = ''
  const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  const url = await new Promise<string>((resolve, reject) => {
    // Its start includes the CA's mesh node (enrolled from the CA on first use): 60 s on a loaded machine.
    const timer = setTimeout(() => { reject(new Error(`ca serve did not start in 60 s: ${err}`)) }, 60_000)
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString()
      const m = /listening on (https:\/\/\S+);/.exec(err)
      if (m != null) { clearTimeout(timer); resolve(m[1]) }
    })
    void exited.then(code => { clearTimeout(timer); reject(new Error(`ca serve exited with ${String(code)}: ${err}`)) })
  })
  return { child, url, stderr: () => err, stdout: () => out, exited }
}
