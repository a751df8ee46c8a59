import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { CaBackupError } from './backup-errors.ts'

/**
 * Walks a CA directory (or a backup of one) for the files a backup carries. A CA directory holds a
 * handful of files and a LevelDB of a few dozen: the limits refuse a directory that is something
 * else (a home directory given as --dir) before it is copied.
 */

/** Most files a backup carries, the store's included. */
export const MAX_BACKUP_FILES = 10_000
/** Most bytes outside the store (certificates, key files, configuration). */
export const MAX_BACKUP_LOOSE_BYTES = 256 * 1024 * 1024

export interface WalkedFile {
  /** Path relative to the walked directory, `/`-separated. */
  path: string
  size: number
}

/** Files of a running process, not state: a restored directory runs no process yet. */
const RUNTIME_FILES = new Set(['run.json', 'run.json.tmp'])

/** A LevelDB directory: it has CURRENT and LOCK. */
async function isLevelDb (dir: string): Promise<boolean> {
  const names = new Set(await readdir(dir))
  return names.has('CURRENT') && names.has('LOCK')
}

/**
 * The regular files under `root`, depth first, sorted. Top-level names in `skip` are left out;
 * sockets and FIFOs (the admin socket) are not files and are left out; a symbolic link is refused,
 * since a backup must hold the bytes, not a pointer to somewhere that may change. With
 * `liveStores`, a LevelDB below the top level (the CA's own mesh node keeps one in `mesh-node/db`)
 * is left out too: its files may be mid-write, and what it holds (CRLs, gossip, bundles in
 * transit) comes back from the mesh, while the node's keys and certificate beside it are copied.
 */
export async function walkFiles (root: string, skip: ReadonlySet<string> = new Set(), liveStores = false): Promise<WalkedFile[]> {
  const out: WalkedFile[] = []
  const visit = async (dir: string, depth: number): Promise<void> => {
    const names = (await readdir(dir)).sort()
    for (const name of names) {
      if (depth === 0 && skip.has(name)) { continue }
      if (liveStores && RUNTIME_FILES.has(name)) { continue }
      const path = join(dir, name)
      const st = await lstat(path)
      const rel = relative(root, path).split(sep).join('/')
      if (st.isSymbolicLink()) { throw new CaBackupError('UNSUPPORTED_FILE', `${path} is a symbolic link; a backup copies files only`) }
      if (st.isDirectory()) {
        if (liveStores && await isLevelDb(path)) { continue }
        if (depth >= 8) { throw new CaBackupError('BACKUP_TOO_LARGE', `${path} is nested deeper than a CA directory is`) }
        await visit(path, depth + 1)
      } else if (st.isFile()) {
        out.push({ path: rel, size: st.size })
        if (out.length > MAX_BACKUP_FILES) { throw new CaBackupError('BACKUP_TOO_LARGE', `${root} holds more than ${MAX_BACKUP_FILES} files`) }
      }
    }
  }
  await visit(root, 0)
  return out
}

/** SHA-256 of a file, hex, streamed. */
export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) { hash.update(chunk as Buffer) }
  return hash.digest('hex')
}

/** True when `dir` does not exist or is an empty directory; false for anything else. */
export async function isAbsentOrEmptyDir (dir: string): Promise<boolean> {
  let st
  try {
    st = await lstat(dir)
  } catch (err: any) {
    if (err.code === 'ENOENT') { return true }
    throw err
  }
  return st.isDirectory() && (await readdir(dir)).length === 0
}
