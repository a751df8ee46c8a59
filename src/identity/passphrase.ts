import { readFile, stat } from 'node:fs/promises'
import { KeyStoreError } from './errors.ts'

/** Environment variable that carries the key file passphrase. */
export const PASSPHRASE_ENV = 'DADM_MESH_PASSPHRASE'

/** Bound on a passphrase file: a passphrase is short; anything bigger is the wrong file. */
const MAX_PASSPHRASE_FILE_BYTES = 4096

export interface PassphraseSource {
  /** Environment to read `DADM_MESH_PASSPHRASE` from. */
  env?: Record<string, string | undefined>
  /** A file holding the passphrase (one trailing newline is dropped). Wins over the environment. */
  passphraseFile?: string
}

/** Finds the passphrase from a file or the environment; undefined when neither gives one. */
export async function resolvePassphrase (source: PassphraseSource): Promise<string | undefined> {
  if (source.passphraseFile != null) {
    let text: string
    try {
      const st = await stat(source.passphraseFile)
      if (!st.isFile() || st.size > MAX_PASSPHRASE_FILE_BYTES) {
        throw new KeyStoreError('PASSPHRASE_FILE_UNREADABLE', `passphrase file ${source.passphraseFile} is not a small regular file`)
      }
      text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(source.passphraseFile))
    } catch (err) {
      if (err instanceof KeyStoreError) { throw err }
      throw new KeyStoreError('PASSPHRASE_FILE_UNREADABLE', `cannot read passphrase file ${source.passphraseFile}`, { cause: err })
    }
    const pass = text.replace(/\r?\n$/, '')
    return pass === '' ? undefined : pass
  }
  const fromEnv = source.env?.[PASSPHRASE_ENV]
  return fromEnv == null || fromEnv === '' ? undefined : fromEnv
}

/** Like `resolvePassphrase`, but refuses with NO_PASSPHRASE when there is none. */
export async function requirePassphrase (source: PassphraseSource): Promise<string> {
  const pass = await resolvePassphrase(source)
  if (pass == null) {
    throw new KeyStoreError('NO_PASSPHRASE', `no passphrase: set ${PASSPHRASE_ENV} or pass --passphrase-file; key files are never written unencrypted`)
  }
  return pass
}
