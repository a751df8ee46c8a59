import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { assertPrivateFile, FileModeError } from '../util/file-mode.ts'
import { KeyStoreError } from './errors.ts'

/** Environment variable that carries the key file passphrase. */
export const PASSPHRASE_ENV = 'DADM_MESH_PASSPHRASE'

/**
 * Environment variable for the passphrase of an operator's admin key (`ca admin-cert`). A name of
 * its own, so that the CA's passphrase in DADM_MESH_PASSPHRASE never ends up protecting a key
 * file that is copied to operators' machines.
 */
export const ADMIN_KEY_PASSPHRASE_ENV = 'DADM_MESH_ADMIN_KEY_PASSPHRASE'

/**
 * Shortest admin key passphrase, in characters. The admin key file leaves the CA host (curl,
 * scripts), so it must survive an offline guess on its own: with PBKDF2 at 600,000 iterations,
 * 12 characters is the length NIST SP 800-63B-4 and OWASP name for a single-factor secret.
 */
export const MIN_ADMIN_PASSPHRASE_CHARS = 12

/** Bound on a passphrase file: a passphrase is short; anything bigger is the wrong file. */
const MAX_PASSPHRASE_FILE_BYTES = 4096

export interface PassphraseSource {
  /** Environment to read the variable from. */
  env?: Record<string, string | undefined>
  /** A file holding the passphrase (one trailing newline is dropped). Wins over the environment. */
  passphraseFile?: string
  /** Which variable to read. @default PASSPHRASE_ENV */
  envName?: string
}

/**
 * Reads a passphrase file: a small regular file that only its owner can access (one readable by
 * group or others is refused with INSECURE_FILE_MODE, as ssh refuses such a private key).
 */
async function readPassphraseFile (path: string): Promise<string> {
  try {
    const st = await stat(path)
    if (!st.isFile() || st.size > MAX_PASSPHRASE_FILE_BYTES) {
      throw new KeyStoreError('PASSPHRASE_FILE_UNREADABLE', `passphrase file ${path} is not a small regular file`)
    }
    assertPrivateFile(path, st, 'passphrase file')
    return new TextDecoder('utf-8', { fatal: true }).decode(await readFile(path))
  } catch (err) {
    if (err instanceof KeyStoreError || err instanceof FileModeError) { throw err }
    throw new KeyStoreError('PASSPHRASE_FILE_UNREADABLE', `cannot read passphrase file ${path}`, { cause: err })
  }
}

/** Finds the passphrase from a file or the environment; undefined when neither gives one. */
export async function resolvePassphrase (source: PassphraseSource): Promise<string | undefined> {
  if (source.passphraseFile != null) {
    const pass = (await readPassphraseFile(source.passphraseFile)).replace(/\r?\n$/, '')
    return pass === '' ? undefined : pass
  }
  const fromEnv = source.env?.[source.envName ?? PASSPHRASE_ENV]
  return fromEnv == null || fromEnv === '' ? undefined : fromEnv
}

/** Like `resolvePassphrase`, but refuses with NO_PASSPHRASE when there is none. */
export async function requirePassphrase (source: PassphraseSource): Promise<string> {
  const pass = await resolvePassphrase(source)
  if (pass == null) {
    throw new KeyStoreError('NO_PASSPHRASE', `no passphrase: set ${source.envName ?? PASSPHRASE_ENV} or pass --passphrase-file; key files are never written unencrypted`)
  }
  return pass
}

/**
 * The passphrase for a new admin key: from `--key-passphrase-file` or DADM_MESH_ADMIN_KEY_PASSPHRASE
 * (never DADM_MESH_PASSPHRASE), at least MIN_ADMIN_PASSPHRASE_CHARS characters. Undefined when
 * neither source gives one; the caller names its flag.
 */
export async function resolveAdminKeyPassphrase (source: { env?: Record<string, string | undefined>, keyPassphraseFile?: string }): Promise<string | undefined> {
  const pass = await resolvePassphrase({
    envName: ADMIN_KEY_PASSPHRASE_ENV,
    ...(source.env != null ? { env: source.env } : {}),
    ...(source.keyPassphraseFile != null ? { passphraseFile: source.keyPassphraseFile } : {})
  })
  if (pass == null) { return undefined }
  if ([...pass].length < MIN_ADMIN_PASSPHRASE_CHARS) {
    throw new KeyStoreError('PASSPHRASE_TOO_SHORT', `the admin key passphrase must be at least ${MIN_ADMIN_PASSPHRASE_CHARS} characters`)
  }
  return pass
}

/**
 * Compares two passphrases in time that does not depend on where they differ: both are hashed to
 * equal-length digests first, since `timingSafeEqual` needs equal lengths and a length check
 * alone would leak the length.
 */
export function passphrasesEqual (a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest()
  const db = createHash('sha256').update(b, 'utf8').digest()
  return timingSafeEqual(da, db)
}
