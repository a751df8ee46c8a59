import { createHash } from 'node:crypto'
import { chmod, copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { parseCertificate } from '../pki/certificate.ts'
import { readHighWater, setBackupMark } from '../store/ca-meta-marks.ts'
import { CaStore } from '../store/ca-store.ts'
import { openStore } from '../store/mesh-store.ts'
import { ensurePrivateDir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../util/file-mode.ts'
import { pemToDer } from '../util/pem.ts'
import { CaBackupError } from './backup-errors.ts'
import { isAbsentOrEmptyDir, MAX_BACKUP_LOOSE_BYTES, sha256File, walkFiles } from './backup-files.ts'
import { MANIFEST_FORMAT, MANIFEST_NAME } from './backup-manifest.ts'
import { caPaths } from './ca-files.ts'
import type { BackupManifest } from './backup-manifest.ts'
import type { MeshStore } from '../store/mesh-store.ts'

/**
 * `ca backup`: a consistent copy of a CA directory. The LevelDB is copied entry by entry from one
 * iterator, which reads a snapshot taken when it is created, so the copy is the store as it was
 * at one instant even while `ca serve` keeps writing; copying the store's files instead could
 * catch a log half-written. The other files (ca.json, the certificates, the encrypted key files)
 * are copied as they are; the admin socket is not a file and stays behind. The copy's store
 * carries a backup mark, so it cannot be served as it is: `ca restore` checks it against what the
 * mesh has seen first.
 */

/** Entries read from the snapshot per step, and written per batch. */
const COPY_CHUNK = 1000

export interface BackupResult {
  out: string
  manifest: BackupManifest
}

/**
 * Copies the CA in `dir`, whose store is `store` (held by the caller: the running service's, or
 * one the CLI opened), into `out`, which must be absent or empty. The manifest is written last,
 * under a temporary name then renamed: a backup directory without it was interrupted.
 */
export async function backupCa (opts: { dir: string, store: MeshStore, out: string, now: Date }): Promise<BackupResult> {
  const dir = resolve(opts.dir)
  const out = resolve(opts.out)
  const paths = caPaths(dir)
  try {
    await stat(paths.config)
  } catch (err) {
    throw new CaBackupError('NOT_A_CA', `${dir} holds no ca.json: not a CA directory`, { cause: err })
  }
  if (out === dir || out.startsWith(dir + '/')) { throw new CaBackupError('BACKUP_TARGET_NOT_EMPTY', `--out ${out} is inside the CA directory ${dir}`) }
  if (!(await isAbsentOrEmptyDir(out))) { throw new CaBackupError('BACKUP_TARGET_NOT_EMPTY', `--out ${out} exists and is not an empty directory`) }

  const loose = await walkFiles(dir, new Set(['db']), true)
  const looseBytes = loose.reduce((n, f) => n + f.size, 0)
  if (looseBytes > MAX_BACKUP_LOOSE_BYTES) { throw new CaBackupError('BACKUP_TOO_LARGE', `${dir} holds ${looseBytes} bytes outside its store, more than a CA directory does`) }
  const rootDer = pemToDer(await readFile(paths.root, 'utf8'), 'CERTIFICATE')
  parseCertificate(rootDer)

  await ensurePrivateDir(out)
  for (const f of loose) {
    const to = join(out, f.path)
    await mkdir(dirname(to), { recursive: true, mode: PRIVATE_DIR_MODE })
    await copyFile(join(dir, f.path), to)
    await chmod(to, PRIVATE_FILE_MODE)
  }

  const copy = await openStore(join(out, 'db'))
  let highWater
  try {
    const entries = await copySnapshot(opts.store, copy)
    await setBackupMark(copy, { created_at: opts.now.toISOString(), source: dir })
    const caStore = await CaStore.open(copy)
    highWater = { ...(await readHighWater(copy)), certificates: await caStore.countCerts(), revocations: (await caStore.revocations()).length }
    if (entries === 0) { throw new CaBackupError('NOT_A_CA', `the store of ${dir} is empty`) }
  } finally {
    await copy.close()
  }

  const files: BackupManifest['files'] = []
  for (const f of await walkFiles(out)) {
    files.push({ path: f.path, size: f.size, sha256: await sha256File(join(out, f.path)) })
  }
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    created_at: opts.now.toISOString(),
    source: dir,
    root_sha256: createHash('sha256').update(rootDer).digest('hex'),
    high_water: highWater,
    files
  }
  const tmp = join(out, `${MANIFEST_NAME}.partial`)
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n', { mode: PRIVATE_FILE_MODE, flush: true })
  await rename(tmp, join(out, MANIFEST_NAME))
  return { out, manifest }
}

/** Copies every entry of `from` into `to` through one snapshot iterator; returns the count. */
async function copySnapshot (from: MeshStore, to: MeshStore): Promise<number> {
  const it = from.db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' } as any) as any
  let n = 0
  try {
    while (true) {
      const entries: Array<[Buffer, Buffer]> = await it.nextv(COPY_CHUNK)
      if (entries.length === 0) { break }
      await to.db.batch(entries.map(([key, value]) => ({ type: 'put', key, value, keyEncoding: 'buffer', valueEncoding: 'buffer' })) as any)
      n += entries.length
    }
  } finally {
    await it.close()
  }
  return n
}
