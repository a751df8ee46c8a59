import { readFile, stat } from 'node:fs/promises'
import { assertPrivateFile, FileModeError } from '../util/file-mode.ts'
import { KeyStoreError } from './errors.ts'

/** Environment variable that carries the token user PIN unless `pinEnv` names another. */
export const PIN_ENV = 'DADM_MESH_PKCS11_PIN'

/** A PIN is short (PKCS#11 tokens cap it near 255 bytes); a bigger file is the wrong file. */
const MAX_PIN_FILE_BYTES = 1024

export interface PinSource {
  /** The PIN itself (tests and embedding programs); wins over the file and the environment. */
  pin?: string
  /** A file holding the PIN (one trailing newline is dropped). Wins over the environment. */
  pinFile?: string
  /** Name of the environment variable to read. @default 'DADM_MESH_PKCS11_PIN' */
  pinEnv?: string
  /** Environment to read from. @default process.env */
  env?: Record<string, string | undefined>
}

/** Finds the token PIN from the source; refuses with NO_PIN when none gives one. */
export async function resolvePin (source: PinSource): Promise<string> {
  if (source.pin != null && source.pin !== '') { return source.pin }
  if (source.pinFile != null) {
    let text: string
    try {
      const st = await stat(source.pinFile)
      if (!st.isFile() || st.size > MAX_PIN_FILE_BYTES) {
        throw new KeyStoreError('PIN_FILE_UNREADABLE', `PIN file ${source.pinFile} is not a small regular file`)
      }
      // A PIN file others can read is refused, as ssh refuses such a private key.
      assertPrivateFile(source.pinFile, st, 'PIN file')
      text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(source.pinFile))
    } catch (err) {
      if (err instanceof KeyStoreError || err instanceof FileModeError) { throw err }
      throw new KeyStoreError('PIN_FILE_UNREADABLE', `cannot read PIN file ${source.pinFile}`, { cause: err })
    }
    const pin = text.replace(/\r?\n$/, '')
    if (pin !== '') { return pin }
    throw new KeyStoreError('NO_PIN', `PIN file ${source.pinFile} is empty`)
  }
  const name = source.pinEnv ?? PIN_ENV
  const fromEnv = (source.env ?? process.env)[name]
  if (fromEnv != null && fromEnv !== '') { return fromEnv }
  throw new KeyStoreError('NO_PIN', `no token PIN: set ${name} or give a PIN file`)
}
