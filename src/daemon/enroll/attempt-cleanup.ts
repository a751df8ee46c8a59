import { readdir, rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { pathExists } from '../../util/path-exists.ts'

/** Most entries of NODEDIR looked at when an attempt starts; a node directory holds about ten. */
const MAX_ENTRIES = 10_000

/** What an enrollment attempt must take back when it fails. */
export interface AttemptUndo {
  /** Removes every path the attempt created: NODEDIR itself (and missing parents) or its new entries. */
  undo(): Promise<void>
}

/**
 * Notes what exists of `dir` before an enrollment attempt, so that a failed attempt removes what
 * it made: a failed enrollment leaves no key directory and no key file behind (a refused token,
 * a taken node_id, an unreachable CA). A directory that did not exist goes whole, with any
 * parents the attempt created; in one that existed, only the entries that were not there before
 * go, so whatever the operator put there beforehand stays.
 */
export async function trackAttempt (dir: string): Promise<AttemptUndo> {
  const top = await highestMissing(resolve(dir))
  if (top != null) {
    return { undo: async () => { await rm(top, { recursive: true, force: true }) } }
  }
  const before = new Set<string>()
  const entries = await readdir(dir)
  if (entries.length > MAX_ENTRIES) { throw new Error(`${dir} holds more than ${MAX_ENTRIES} entries: not a node directory`) }
  for (const name of entries) { before.add(name) }
  return {
    undo: async () => {
      let now: string[]
      try {
        now = await readdir(dir)
      } catch {
        return
      }
      for (const name of now) {
        if (!before.has(name)) { await rm(join(dir, name), { recursive: true, force: true }) }
      }
    }
  }
}

/** The highest ancestor of `path` (itself included) that does not exist, or undefined when `path` exists. */
async function highestMissing (path: string): Promise<string | undefined> {
  let missing: string | undefined
  let p = path
  while (!(await pathExists(p))) {
    missing = p
    const parent = dirname(p)
    if (parent === p) { break }
    p = parent
  }
  return missing
}
