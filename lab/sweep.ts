import { execFileSync } from 'node:child_process'
import { readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ip, run } from './exec.ts'

/**
 * Every namespace the lab makes is named `dlab<PID>n<K>-<role>`, PID being the process that built
 * it and K the number of the lab within that process (a test run may hold two at once). The prefix
 * is what a sweep keys on; the PID says whether the builder still runs, so a sweep never tears
 * down a lab another live process is using.
 */
export const LAB_PREFIX = 'dlab'
/** The scratch directories (CA, node directories, configs) are `$TMPDIR/dadm-lab-<PID>-XXXXXX`. */
export const LAB_DIR_PREFIX = 'dadm-lab-'
const NAME = /^dlab(\d+)n\d+-[a-z0-9-]+$/

/** The prefix of every lab namespace process `pid` makes. */
export function labPrefixFor (pid: number): string {
  return `${LAB_PREFIX}${pid}n`
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists under another user; only ESRCH means gone.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The lab namespaces that exist now (`ip netns list`). */
export async function labNamespaces (): Promise<string[]> {
  const out = await ip('netns', 'list')
  return out.split('\n').map(l => l.trim().split(/\s+/)[0]).filter(n => n != null && NAME.test(n))
}

/** Kills every process still inside namespace `ns` (by pid, SIGKILL) and deletes the namespace. */
export async function deleteNamespace (ns: string): Promise<void> {
  const pids = (await run('ip', ['netns', 'pids', ns]).catch(() => '')).split('\n').map(Number).filter(p => Number.isInteger(p) && p > 0)
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
  await ip('netns', 'del', ns).catch(() => {})
}

/**
 * Deletes labs left behind by builders that no longer run (a test runner killed mid-lab): their
 * processes, then their namespaces, which takes their veth pairs and nft tables with them, then
 * their scratch directories. Returns the namespaces and directories it removed.
 */
export async function sweepStaleLabs (): Promise<string[]> {
  const removed: string[] = []
  for (const ns of await labNamespaces()) {
    const pid = Number(NAME.exec(ns)?.[1])
    if (pid === process.pid || alive(pid)) { continue }
    await deleteNamespace(ns)
    removed.push(ns)
  }
  for (const d of await readdir(tmpdir()).catch(() => [] as string[])) {
    const m = new RegExp(`^${LAB_DIR_PREFIX}(\\d+)-`).exec(d)
    if (m == null || Number(m[1]) === process.pid || alive(Number(m[1]))) { continue }
    await rm(join(tmpdir(), d), { recursive: true, force: true })
    removed.push(d)
  }
  return removed
}

/**
 * The last-resort cleanup on process exit, synchronous because an 'exit' handler cannot wait:
 * kills what runs in this process's lab namespaces and deletes them.
 */
export function sweepOwnLabsSync (): void {
  const prefix = labPrefixFor(process.pid)
  let list = ''
  try { list = execFileSync('ip', ['netns', 'list'], { timeout: 5000 }).toString() } catch { return }
  for (const ns of list.split('\n').map(l => l.trim().split(/\s+/)[0]).filter(n => n?.startsWith(prefix))) {
    try {
      for (const p of execFileSync('ip', ['netns', 'pids', ns], { timeout: 5000 }).toString().split('\n').map(Number).filter(n => n > 0)) {
        try { process.kill(p, 'SIGKILL') } catch {}
      }
      execFileSync('ip', ['netns', 'del', ns], { timeout: 5000 })
    } catch {}
  }
}
