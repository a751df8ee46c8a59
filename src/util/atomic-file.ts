import { randomBytes } from 'node:crypto'
import { link, mkdir, open, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Writes `data` to a new file at `path` and never over an existing one: write a temporary file,
 * fsync it, hard-link it into place (link fails with EEXIST where rename would overwrite), then
 * fsync the directory so the new name survives a crash. Throws the EEXIST error as is.
 */
export async function writeFileExclusive (path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
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
  try {
    await link(tmp, path)
  } finally {
    await unlink(tmp).catch(() => {})
  }
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}
