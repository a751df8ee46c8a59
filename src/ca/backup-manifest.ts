import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { CaBackupError } from './backup-errors.ts'
import type { CaHighWater } from '../store/ca-meta-marks.ts'

/**
 * `backup.json`, written last into a backup directory: what the copy holds (every file with its
 * size and SHA-256) and the numbering marks at the moment of the copy. A directory without it is
 * an interrupted backup; a file that does not match it is a damaged one. Restore trusts neither.
 */

export const MANIFEST_NAME = 'backup.json'
export const MANIFEST_FORMAT = 'dadm-mesh-ca-backup/1'
/** A manifest lists at most MAX_BACKUP_FILES entries of about 150 bytes. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT
  created_at: string
  /** The CA directory it was taken from. */
  source: string
  /** SHA-256 of the root certificate's DER: which mesh this CA anchors. */
  root_sha256: string
  high_water: CaHighWater & { certificates: number, revocations: number }
  files: Array<{ path: string, size: number, sha256: string }>
}

const SAFE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._/-]{1,200}$/

/** Reads and checks the shape of `DIR/backup.json` (not the files it lists: see restore). */
export async function readManifest (dir: string): Promise<BackupManifest> {
  const path = join(dir, MANIFEST_NAME)
  let text: string
  try {
    const fh = await open(path, 'r')
    try {
      const { size } = await fh.stat()
      if (size > MAX_MANIFEST_BYTES) { throw new CaBackupError('BACKUP_CORRUPT', `${path} is larger than ${MAX_MANIFEST_BYTES} bytes`) }
      text = await fh.readFile('utf8')
    } finally {
      await fh.close()
    }
  } catch (err: any) {
    if (err instanceof CaBackupError) { throw err }
    throw new CaBackupError('BACKUP_CORRUPT', `cannot read ${path}: ${err.code === 'ENOENT' ? 'not a finished `ca backup` (no manifest)' : String(err.message)}`, { cause: err })
  }
  let m: any
  try {
    m = JSON.parse(text)
  } catch (err) {
    throw new CaBackupError('BACKUP_CORRUPT', `${path} is not JSON`, { cause: err })
  }
  const hw = m?.high_water
  const ok = m?.format === MANIFEST_FORMAT && typeof m.created_at === 'string' && typeof m.source === 'string' &&
    typeof m.root_sha256 === 'string' && /^[0-9a-f]{64}$/.test(m.root_sha256) && hw != null &&
    ['crlNumberIssuing', 'crlNumberRoot', 'noticeSeq', 'revocationEpoch', 'certificates', 'revocations'].every(k => Number.isSafeInteger(hw[k]) && hw[k] >= 0) &&
    Array.isArray(m.files) && m.files.every((f: any) => typeof f?.path === 'string' && SAFE_PATH.test(f.path) &&
      Number.isSafeInteger(f.size) && f.size >= 0 && typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256))
  if (!ok) { throw new CaBackupError('BACKUP_CORRUPT', `${path} is not a ${MANIFEST_FORMAT} manifest`) }
  return m as BackupManifest
}
