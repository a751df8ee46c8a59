import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CaStore } from '../store/ca-store.ts'
import { openStore } from '../store/mesh-store.ts'
import { CaBackupError } from './backup-errors.ts'
import { MANIFEST_NAME } from './backup-manifest.ts'
import { caPaths } from './ca-files.ts'
import type { MeshStore } from '../store/mesh-store.ts'

/**
 * The CA's store without its keys: what the read-only commands (`ca list-certs`, `ca list-nodes`)
 * and `ca backup` need, so that they ask for no passphrase. Refuses a directory that is not a CA
 * (no ca.json) and a `ca backup` copy (opening its LevelDB would rewrite the files its manifest
 * hashes).
 */
export async function openCaStoreOnly (dir: string): Promise<{ meshStore: MeshStore, store: CaStore, close(): Promise<void> }> {
  const paths = caPaths(dir)
  if (!(await stat(paths.config).then(s => s.isFile(), () => false))) { throw new CaBackupError('NOT_A_CA', `${dir} holds no ca.json: not a CA directory (--dir)`) }
  if (await stat(join(dir, MANIFEST_NAME)).then(() => true, () => false)) {
    throw new CaBackupError('BACKUP_NOT_RESTORED', `${dir} is a \`ca backup\` copy; make a CA of it with \`dadm-mesh ca restore --from ${dir} --dir NEWDIR --seen-crl FILE\``)
  }
  const meshStore = await openStore(paths.db)
  try {
    const store = await CaStore.open(meshStore)
    return { meshStore, store, close: async () => { await meshStore.close() } }
  } catch (err) {
    await meshStore.close()
    throw err
  }
}
