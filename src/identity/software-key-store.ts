import { readFile, stat, unlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { writeFileExclusive } from '../util/atomic-file.ts'
import { KeyStoreError } from './errors.ts'
import { decodeKeyFile, encodeKeyFile, MAX_KEY_FILE_BYTES } from './key-file.ts'
import { LABEL_PATTERN, isKeyAlgorithm } from './key-store.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from './software-key.ts'
import type { KeyFileOptions } from './key-file.ts'
import type { GenerateOptions, KeyAlgorithm, KeyHandle, KeyStore } from './key-store.ts'

export interface SoftwareKeyStoreInit extends KeyFileOptions {
  /** Directory of `<label>.key` files (created 0700 when missing). */
  dir: string
  /** Passphrase for every key in the store; without one the store refuses to read or write. */
  passphrase?: string
}

/** The software backend: one encrypted file per key (`<dir>/<label>.key`, mode 0600). */
export class SoftwareKeyStore implements KeyStore {
  readonly #dir: string
  readonly #passphrase: string | undefined
  readonly #options: KeyFileOptions

  constructor (init: SoftwareKeyStoreInit) {
    this.#dir = init.dir
    this.#passphrase = init.passphrase
    this.#options = { scryptLogN: init.scryptLogN }
  }

  #path (label: string): string {
    if (!LABEL_PATTERN.test(label)) {
      throw new KeyStoreError('BAD_LABEL', `key label ${JSON.stringify(label)} is not [A-Za-z0-9._-]{1,64}`)
    }
    return join(this.#dir, `${label}.key`)
  }

  #pass (): string {
    if (this.#passphrase == null || this.#passphrase === '') {
      throw new KeyStoreError('NO_PASSPHRASE', 'the software key store needs a passphrase')
    }
    return this.#passphrase
  }

  async generate (label: string, algorithm: KeyAlgorithm, options: GenerateOptions = {}): Promise<KeyHandle> {
    return generateKeyFile(this.#path(label), algorithm, this.#pass(), { ...this.#options, ...options }, label)
  }

  async load (label: string): Promise<KeyHandle> {
    return loadKeyFile(this.#path(label), this.#pass(), label)
  }

  async has (label: string): Promise<boolean> {
    try {
      return (await stat(this.#path(label))).isFile()
    } catch (err: any) {
      if (err.code === 'ENOENT') { return false }
      throw err
    }
  }

  async delete (label: string): Promise<void> {
    try {
      await unlink(this.#path(label))
    } catch (err: any) {
      if (err.code === 'ENOENT') { throw new KeyStoreError('KEY_NOT_FOUND', `no key ${label}`) }
      throw err
    }
  }
}

/** Generates a key and writes it encrypted to `path` (refusing to overwrite); returns its handle. */
export async function generateKeyFile (path: string, algorithm: KeyAlgorithm, passphrase: string | undefined, options: KeyFileOptions & GenerateOptions = {}, label = basename(path)): Promise<KeyHandle> {
  if (!isKeyAlgorithm(algorithm)) {
    throw new KeyStoreError('UNSUPPORTED_ALGORITHM', `key algorithm ${String(algorithm)} is not P-256 or Ed25519`)
  }
  if (passphrase == null || passphrase === '') {
    throw new KeyStoreError('NO_PASSPHRASE', 'refusing to write a key file without a passphrase')
  }
  const exportable = options.exportable ?? false
  const pkcs8 = await generatePkcs8(algorithm)
  try {
    const file = await encodeKeyFile({ algorithm, exportable, pkcs8 }, passphrase, options)
    await writeExclusive(path, file)
    return await softwareKeyFromPkcs8(label, algorithm, pkcs8, exportable)
  } finally {
    pkcs8.fill(0)
  }
}

/** Reads and decrypts the key file at `path`. */
export async function loadKeyFile (path: string, passphrase: string | undefined, label = basename(path)): Promise<KeyHandle> {
  if (passphrase == null || passphrase === '') {
    throw new KeyStoreError('NO_PASSPHRASE', 'no passphrase to open the key file')
  }
  let bytes: Buffer
  try {
    const st = await stat(path)
    if (st.size > MAX_KEY_FILE_BYTES) {
      throw new KeyStoreError('TAMPERED_KEY_FILE', `key file ${path} is too large`)
    }
    bytes = await readFile(path)
  } catch (err: any) {
    if (err instanceof KeyStoreError) { throw err }
    if (err.code === 'ENOENT') { throw new KeyStoreError('KEY_NOT_FOUND', `no key file at ${path}`) }
    throw err
  }
  const contents = await decodeKeyFile(bytes, passphrase)
  try {
    return await softwareKeyFromPkcs8(label, contents.algorithm, contents.pkcs8, contents.exportable)
  } catch (err) {
    if (err instanceof KeyStoreError) { throw err }
    throw new KeyStoreError('TAMPERED_KEY_FILE', `key file ${path} does not hold a usable key`, { cause: err })
  } finally {
    contents.pkcs8.fill(0)
  }
}

/** Writes a key file (0600), mapping an existing file to KEY_EXISTS. */
async function writeExclusive (path: string, data: Uint8Array): Promise<void> {
  try {
    await writeFileExclusive(path, data, 0o600)
  } catch (err: any) {
    if (err.code === 'EEXIST') { throw new KeyStoreError('KEY_EXISTS', `${path} already exists; refusing to overwrite`) }
    throw err
  }
}
