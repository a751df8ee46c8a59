import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'

/** Output kept per stream of a lab process: enough for its start line and the last errors. */
const MAX_KEPT_CHARS = 256 * 1024

export interface LabProcess {
  /** A short name for reports ("a1 node start"). */
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
  /** Waits until stderr (or stdout) matches `re`, at most `ms`; rejects early if the process exits. */
  waitFor(re: RegExp, ms: number, stream?: 'stderr' | 'stdout'): Promise<RegExpExecArray>
  /** SIGTERM, SIGKILL after `ms`; resolves the exit code. */
  stop(ms?: number): Promise<number | null>
  /** SIGKILL at once (a crash, not a shutdown). */
  kill(): Promise<void>
  running(): boolean
}

function keep (s: string): string {
  return s.length > MAX_KEPT_CHARS ? s.slice(s.length - MAX_KEPT_CHARS) : s
}

/**
 * Starts `argv` inside network namespace `ns` through `ip netns exec`, which execs the command in
 * place: the child's pid is the command's own, so the lab stops and kills it by that pid.
 */
export function spawnInNs (ns: string, name: string, argv: string[], env: Record<string, string> = {}, opts: { stdin?: boolean } = {}): LabProcess {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { env: { ...process.env, ...env }, stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
  child.stdout?.on('data', (c: Buffer) => { out = keep(out + c.toString()) })
  child.stderr?.on('data', (c: Buffer) => { err = keep(err + c.toString()) })
  const running = (): boolean => child.exitCode == null && child.signalCode == null
  const proc: LabProcess = {
    name,
    pid: child.pid as number,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    running,
    async waitFor (re, ms, stream = 'stderr') {
      const src = stream === 'stderr' ? child.stderr : child.stdout
      const text = (): string => stream === 'stderr' ? err : out
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = re.exec(text())
          if (m != null) { cleanup(); resolve(m); return true }
          return false
        }
        const onData = (): void => { setImmediate(check) }
        const timer = setTimeout(() => { cleanup(); reject(new Error(`${name}: no ${String(re)} within ${ms} ms; stderr: ${err.slice(-2000)}; stdout: ${out.slice(-2000)}`)) }, ms)
        const cleanup = (): void => { clearTimeout(timer); src?.off('data', onData) }
        if (check()) { return }
        src?.on('data', onData)
        void exited.then(code => {
          if (check()) { return }
          cleanup()
          reject(new Error(`${name} exited with ${String(code)} before ${String(re)}; stderr: ${err.slice(-2000)}`))
        })
      })
    },
    async stop (ms = 15_000) {
      if (!running()) { return child.exitCode }
      try { process.kill(proc.pid, 'SIGTERM') } catch {}
      const timer = setTimeout(() => { if (running()) { try { process.kill(proc.pid, 'SIGKILL') } catch {} } }, ms)
      const code = await exited
      clearTimeout(timer)
      return code
    },
    async kill () {
      if (!running()) { return }
      try { process.kill(proc.pid, 'SIGKILL') } catch {}
      await exited
    }
  }
  return proc
}
