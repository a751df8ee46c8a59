import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseCertificate } from '../pki/certificate.ts'
import { bytesEqual } from '../pki/signature.ts'
import { getBackupMark } from '../store/ca-meta-marks.ts'
import { CaStore } from '../store/ca-store.ts'
import { openStore } from '../store/mesh-store.ts'
import { ensurePrivateDir } from '../util/file-mode.ts'
import { pemToDer, pemToDerAll } from '../util/pem.ts'
import { CaBackupError } from './backup-errors.ts'
import { MANIFEST_NAME } from './backup-manifest.ts'
import { caPaths, ISSUING_KEY_LABEL, ROOT_KEY_LABEL } from './ca-files.ts'
import { openCaKeyStore, validateCaKeyStore } from './ca-key-store.ts'
import { readCaConfig } from './config.ts'
import { IssuanceError } from './errors.ts'
import type { CaPkcs11Options } from './ca-key-store.ts'
import type { CaState } from './ca-state.ts'
import type { Certificate } from '../pki/certificate.ts'

export interface CaOpenOptions {
  dir: string
  /** Decrypts the key files (software key store; a PKCS#11 CA needs none). */
  passphrase: string | undefined
  /** The token PIN of a PKCS#11 CA, or the environment to read it from (ca.json names the file or variable). */
  pkcs11?: Pick<CaPkcs11Options, 'pin' | 'env'>
}

async function readCerts (path: string): Promise<{ pem: string, certs: Certificate[] }> {
  let pem: string
  try {
    pem = await readFile(path, 'utf8')
  } catch (err) {
    throw new IssuanceError('BAD_CA_CONFIG', `cannot read ${path}`, { cause: err })
  }
  try {
    return { pem, certs: pemToDerAll(pem, 'CERTIFICATE').map(parseCertificate) }
  } catch (err) {
    throw new IssuanceError('BAD_CA_CONFIG', `${path} does not hold certificates`, { cause: err })
  }
}

function notRestored (dir: string): CaBackupError {
  return new CaBackupError('BACKUP_NOT_RESTORED', `${dir} is a \`ca backup\` copy; make a CA of it with \`dadm-mesh ca restore --from ${dir} --dir NEWDIR --seen-crl FILE\``)
}

/**
 * Opens an existing CA: reads ca.json and the certificates, opens the keys (decrypting key files,
 * refusing a wrong passphrase or a tampered file; or logging in to the PKCS#11 token) and checks
 * that each key matches its certificate.
 */
export async function loadCa (opts: CaOpenOptions): Promise<CaState> {
  const paths = caPaths(opts.dir)
  const config = await readCaConfig(paths.config)
  // Refused before the store is opened: opening a LevelDB rewrites its files, and the backup's
  // manifest would no longer match them.
  if (await stat(join(opts.dir, MANIFEST_NAME)).then(() => true, () => false)) { throw notRestored(opts.dir) }
  // A CA directory that an older version, a restore or an operator left open to others is closed
  // again before the keys are read (the store's own directory is handled by openStore).
  await ensurePrivateDir(opts.dir)
  const { pem: rootPem, certs: [root] } = await readCerts(paths.root)
  const { pem: chainPem, certs: chain } = await readCerts(paths.chain)
  if (chain.length !== (config.intermediate ? 2 : 1) || !bytesEqual(chain[chain.length - 1].der, root.der)) {
    throw new IssuanceError('BAD_CA_CONFIG', 'ca-chain.pem must be the issuing CA then root.pem')
  }
  pemToDer(rootPem, 'CERTIFICATE')
  const issuing = chain[0]

  const keys = await openCaKeyStore(validateCaKeyStore(config.key_store), paths.keys, opts.passphrase, opts.pkcs11)
  try {
    const rootKey = await keys.store.load(ROOT_KEY_LABEL)
    const issuingKey = config.intermediate ? await keys.store.load(ISSUING_KEY_LABEL) : rootKey
    if (!bytesEqual(rootKey.publicKeySpki, root.spki) || !bytesEqual(issuingKey.publicKeySpki, issuing.spki)) {
      throw new IssuanceError('BAD_CA_CONFIG', 'a CA key does not match its certificate')
    }
    const meshStore = await openStore(paths.db)
    try {
      const store = await CaStore.open(meshStore)
      // A `ca backup` copy has not been checked against what the mesh has seen: served as it is,
      // it could sign CRL numbers the mesh already holds and drop later revocations.
      if (await getBackupMark(meshStore) != null) {
        throw notRestored(opts.dir)
      }
      return { dir: opts.dir, config, root, issuing, rootPem, chainPem, rootKey, issuingKey, meshStore, store, closeKeys: keys.close }
    } catch (err) {
      await meshStore.close()
      throw err
    }
  } catch (err) {
    await keys.close()
    throw err
  }
}
