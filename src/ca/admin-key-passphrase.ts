import { join } from 'node:path'
import { KeyStoreError } from '../identity/errors.ts'
import { passphrasesEqual } from '../identity/passphrase.ts'
import { loadKeyFile } from '../identity/software-key-store.ts'
import { caPaths, ROOT_KEY_LABEL } from './ca-files.ts'
import { validateCaKeyStore } from './ca-key-store.ts'
import { readCaConfig } from './config.ts'

/**
 * Refuses (ADMIN_PASSPHRASE_REUSED) an admin key passphrase that is the CA's own. The admin key
 * file is made to be copied to operators' machines and handed to curl; if its passphrase also
 * opened the CA keys, whoever learns it from a script or a shell history holds the CA.
 *
 * Two checks, because `ca admin-cert` may run beside a `ca serve` that opened the CA with a
 * passphrase this process never sees: a constant-time comparison with the CA passphrase this
 * process was given (when it was), and, for a CA whose keys are files, an attempt to open the
 * root key file with the candidate (one KDF run; the file's own verifier tells a wrong passphrase
 * apart). A PKCS#11 CA has no passphrase to reuse, only a PIN, which the first check does not see.
 */
export async function refuseCaPassphrase (dir: string, candidate: string, caPassphrase: string | undefined): Promise<void> {
  const reused = (): KeyStoreError => new KeyStoreError('ADMIN_PASSPHRASE_REUSED', 'the admin key passphrase is the CA\'s passphrase: choose another one (--key-passphrase-file or DADM_MESH_ADMIN_KEY_PASSPHRASE)')
  if (caPassphrase != null && passphrasesEqual(candidate, caPassphrase)) { throw reused() }
  const paths = caPaths(dir)
  const keyStore = validateCaKeyStore((await readCaConfig(paths.config)).key_store)
  if (keyStore.type !== 'software') { return }
  let opens = false
  try {
    await loadKeyFile(join(paths.keys, `${ROOT_KEY_LABEL}.key`), candidate)
    opens = true
  } catch (err) {
    // WRONG_PASSPHRASE is the expected answer. A root key this user cannot read (the service runs
    // as another user) leaves only the first check; anything else is not about the passphrase.
    if (!(err instanceof KeyStoreError) && (err as NodeJS.ErrnoException).code !== 'EACCES') { throw err }
  }
  if (opens) { throw reused() }
}
