import { chmod, mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { MeshError } from '../errors.ts'
import type { Stats } from 'node:fs'

/** Mode of every directory that holds keys, secrets or a store: the owner only. */
export const PRIVATE_DIR_MODE = 0o700
/** Mode of every file in such a directory. */
export const PRIVATE_FILE_MODE = 0o600

/**
 * Group and other permission bits. A secret file with any of them set is refused, the rule
 * OpenSSH applies to private keys ("permissions are too open"): a file others can read has
 * leaked already, and one others can write can be swapped for a passphrase they chose.
 */
const GROUP_OTHER_BITS = 0o077

/** Largest number of entries `restrictDirTree` walks in one directory (a LevelDB holds a few dozen). */
const MAX_DIR_ENTRIES = 100_000

/** Raised for a secret file or a private directory whose permissions let others in. */
export class FileModeError extends MeshError<'INSECURE_FILE_MODE'> {
  static name = 'FileModeError'
  /** The offending path. */
  readonly path: string

  constructor (path: string, message: string) {
    super('INSECURE_FILE_MODE', message)
    this.path = path
  }
}

/**
 * Refuses a secret file (passphrase, PIN) that group or others may read or write. `what` names
 * the file for the operator ("passphrase file", "PIN file").
 */
export function assertPrivateFile (path: string, st: Stats, what: string): void {
  const mode = st.mode & 0o777
  if ((mode & GROUP_OTHER_BITS) !== 0) {
    throw new FileModeError(path, `${what} ${path} has mode ${mode.toString(8).padStart(4, '0')}: it must not be accessible by group or others (chmod 600 ${path})`)
  }
}

/**
 * Creates `dir` (and missing parents) and forces it to 0700 whatever existed before: `mkdir`'s
 * mode is filtered by the umask and ignored for a directory that already exists, so the explicit
 * `chmod` is what makes the result the same on every host. A symbolic link to a directory is
 * followed (an operator may keep NODEDIR elsewhere); the directory it names is what gets closed.
 * A directory this user may not chmod is refused with INSECURE_FILE_MODE rather than used open.
 */
export async function ensurePrivateDir (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  const st = await stat(dir)
  if (!st.isDirectory()) {
    throw new FileModeError(dir, `${dir} is not a directory`)
  }
  const mode = st.mode & 0o777
  if (mode === PRIVATE_DIR_MODE) { return }
  try {
    await chmod(dir, PRIVATE_DIR_MODE)
  } catch (err) {
    throw new FileModeError(dir, `${dir} has mode ${mode.toString(8).padStart(4, '0')} and this user cannot change it to 0700 (${(err as NodeJS.ErrnoException).code ?? 'error'}): run as its owner or chmod 700 ${dir}`)
  }
}

/**
 * Forces `dir` to 0700 and the regular files directly in it to 0600. Libraries that create their
 * own files (LevelDB) use the process umask; the 0700 directory already keeps others out of files
 * created later, and this pass makes the files that exist match the rule too.
 */
export async function restrictDirTree (dir: string): Promise<void> {
  await ensurePrivateDir(dir)
  const entries = await readdir(dir, { withFileTypes: true })
  for (const e of entries.slice(0, MAX_DIR_ENTRIES)) {
    if (!e.isFile()) { continue }
    const p = join(dir, e.name)
    // A file can vanish between readdir and chmod (LevelDB compaction removes tables).
    await chmod(p, PRIVATE_FILE_MODE).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') { throw err } })
  }
}
