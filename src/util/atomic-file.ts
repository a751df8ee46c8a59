import { randomBytes } from 'node:crypto'
import { link, mkdir, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** Writes `data` to a fresh temporary file beside `path` and fsyncs it; returns the temporary path. */
async function writeTempSynced (path: string, data: Uint8Array | string, mode: number): Promise<string> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  return tmp
}

/** fsyncs a directory so that a new or renamed entry in it survives a crash. */
async function syncDir (dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}

/**
 * Writes `data` to a new file at `path` and never over an existing one: write a temporary file,
 * fsync it, hard-link it into place (link fails with EEXIST where rename would overwrite), then
 * fsync the directory so the new name survives a crash. Throws the EEXIST error as is.
 */
export async function writeFileExclusive (path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const tmp = await writeTempSynced(path, data, mode)
  try {
    await link(tmp, path)
  } finally {
    await unlink(tmp).catch(() => {})
  }
  await syncDir(dirname(path))
}

/**
 * Replaces `path` atomically: write a temporary file, fsync, rename over, fsync the directory. A
 * crash leaves the old file or the new one, never a torn one (rotation rewrites cert.pem live).
 */
export async function writeFileAtomic (path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = await writeTempSynced(path, data, mode)
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  await syncDir(dirname(path))
}
