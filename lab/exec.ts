import { execFile } from 'node:child_process'

/** Largest output kept from one command: `ip`/`nft` listings of a lab are a few kilobytes. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024

/** A system command (`ip`, `nft`, `sysctl`) that failed: the command line and what it printed. */
export class LabCommandError extends Error {
  readonly code = 'LAB_COMMAND_FAILED'
  readonly argv: string[]
  readonly stderr: string
  constructor (argv: string[], stderr: string) {
    super(`${argv.join(' ')}: ${stderr.trim().split('\n')[0] ?? ''}`)
    this.name = 'LabCommandError'
    this.argv = argv
    this.stderr = stderr
  }
}

/**
 * Runs a command to completion with a deadline (a wedged `ip` must not hang a test) and returns
 * its stdout. `input` is written to its stdin (nft rulesets go in that way, never through a shell).
 */
export async function run (cmd: string, args: string[], opts: { input?: string, timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 15_000, maxBuffer: MAX_OUTPUT_BYTES, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err != null) { reject(new LabCommandError([cmd, ...args], String(stderr) !== '' ? String(stderr) : err.message)); return }
      resolve(String(stdout))
    })
    if (opts.input != null) { child.stdin?.end(opts.input) } else { child.stdin?.end() }
  })
}

/** `ip ARGS` in the root namespace (link creation names its target namespaces itself). */
export async function ip (...args: string[]): Promise<string> {
  return run('ip', args)
}

/** `ip ARGS` inside namespace `ns`. */
export async function ipIn (ns: string, ...args: string[]): Promise<string> {
  return run('ip', ['-n', ns, ...args])
}

/** Runs `cmd args` inside namespace `ns` to completion. */
export async function inNs (ns: string, cmd: string, args: string[], opts: { input?: string, timeoutMs?: number } = {}): Promise<string> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts)
}

/** Loads an nft ruleset (text) into namespace `ns`. */
export async function nft (ns: string, ruleset: string): Promise<void> {
  await inNs(ns, 'nft', ['-f', '-'], { input: ruleset })
}
