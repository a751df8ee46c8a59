import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { KeyStoreError } from './errors.ts'
import { resolvePin } from './pkcs11-pin.ts'
import { SoftwareKeyStore } from './software-key-store.ts'
import type { KeyAlgorithm, KeyBackend, KeyHandle, KeyStore } from './key-store.ts'

/**
 * Where an enrolled node's identity key lives, as `node.json` records it (`identity_key`), and
 * how to open that backend again. Secrets are never recorded: the software store's passphrase
 * and the token PIN come from the environment or a file at every start.
 */

/** PKCS#11 settings shared by the `pkcs11` and `tpm` records. Paths are absolute. */
interface Pkcs11Ref {
  module: string
  token_label: string
  /** A file holding the token PIN; else the environment variable `pin_env` (default DADM_MESH_PKCS11_PIN). */
  pin_file?: string
  pin_env?: string
}

export type IdentityKeyRef =
  | { store: 'software', label: string, algorithm: KeyAlgorithm }
  | ({ store: 'pkcs11', label: string, algorithm: 'P-256' } & Pkcs11Ref)
  /**
   * A TPM-resident key through tpm2-pkcs11 (the same code path as any token): `tcti` names the
   * TPM and `pkcs11_store` the tpm2-pkcs11 database directory, relative to NODEDIR.
   */
  | ({ store: 'tpm', label: string, algorithm: 'P-256', tcti: string, pkcs11_store: string } & Pkcs11Ref)

/** What opening a node's identity key needs besides its record. */
export interface IdentityKeyEnv {
  /** NODEDIR: software keys are in NODEDIR/keys, the tpm2-pkcs11 database under it. */
  dir: string
  /** Passphrase of the software store. */
  passphrase?: string
  /** Environment for the PIN variable. @default process.env */
  env?: Record<string, string | undefined>
  /** The token PIN itself (embedding programs, tests); wins over the file and the environment. */
  pin?: string
  /** scrypt cost of new software key files (tests lower it). */
  scryptLogN?: number
}

/** An identity key and the store holding it; `close` ends a PKCS#11 session. */
export interface OpenedIdentityKey {
  store: KeyStore
  key: KeyHandle
  backend: KeyBackend
  close(): Promise<void>
}

/** Default token label for tokens the node creates itself (tpm2-pkcs11 on a fresh TPM). */
export const DEFAULT_TOKEN_LABEL = 'dadm-mesh'

/** tpm2-pkcs11 reads these at C_Initialize: the TPM to talk to and where its database lives. */
const TPM2_PKCS11_TCTI = 'TPM2_PKCS11_TCTI'
const TPM2_PKCS11_STORE = 'TPM2_PKCS11_STORE'

/**
 * Points tpm2-pkcs11 at the node's TPM and database. It reads only the process environment, once
 * per process (when the module is first initialized), so a process serves one TPM token store.
 */
export function configureTpm2Pkcs11 (tcti: string, storeDir: string): void {
  process.env[TPM2_PKCS11_TCTI] = tcti
  process.env[TPM2_PKCS11_STORE] = storeDir
}

function storeDirOf (ref: { pkcs11_store: string }, dir: string): string {
  return isAbsolute(ref.pkcs11_store) ? ref.pkcs11_store : resolve(dir, ref.pkcs11_store)
}

/**
 * The PKCS#11 code (graphene-pk11, node-webcrypto-p11: large to load), imported only for a
 * pkcs11 or tpm key: a node with a software key, and the CLI commands that open it, skip it.
 */
async function pkcs11Code (): Promise<typeof import('./pkcs11-key-store.ts') & typeof import('./pkcs11-module.ts') & typeof import('./pkcs11-token-init.ts')> {
  const [store, module, init] = await Promise.all([import('./pkcs11-key-store.ts'), import('./pkcs11-module.ts'), import('./pkcs11-token-init.ts')])
  return { ...store, ...module, ...init }
}

/** Opens the backend a node.json `identity_key` names and loads the key (the node runtime calls this at start). */
export async function openIdentityKeyStore (nodeFile: { identity_key: IdentityKeyRef }, env: IdentityKeyEnv): Promise<OpenedIdentityKey> {
  const ref = nodeFile.identity_key
  if (ref.store === 'software') {
    // scryptLogN: the cost of keys created later in this store (rotation); loading reads each file's own.
    const store = new SoftwareKeyStore({ dir: join(env.dir, 'keys'), ...(env.passphrase != null ? { passphrase: env.passphrase } : {}), ...(env.scryptLogN != null ? { scryptLogN: env.scryptLogN } : {}) })
    const key = await store.load(ref.label)
    return { store, key, backend: 'software', close: async () => {} }
  }
  if (ref.store !== 'pkcs11' && ref.store !== 'tpm') {
    throw new KeyStoreError('TOKEN_ERROR', `node.json names an unknown key store ${JSON.stringify((ref as { store: unknown }).store)}`)
  }
  if (ref.store === 'tpm') { configureTpm2Pkcs11(ref.tcti, storeDirOf(ref, env.dir)) }
  const { Pkcs11KeyStore } = await pkcs11Code()
  const store = await Pkcs11KeyStore.open({
    module: ref.module,
    tokenLabel: ref.token_label,
    ...pinSource(ref, env)
  })
  try {
    const key = await store.load(ref.label)
    return { store, key, backend: store.info.backend, close: async () => { await store.close() } }
  } catch (err) {
    await store.close()
    throw err
  }
}

function pinSource (ref: Pkcs11Ref, env: IdentityKeyEnv): { pin?: string, pinFile?: string, pinEnv?: string, env?: Record<string, string | undefined> } {
  return {
    ...(env.pin != null ? { pin: env.pin } : {}),
    ...(ref.pin_file != null ? { pinFile: ref.pin_file } : {}),
    ...(ref.pin_env != null ? { pinEnv: ref.pin_env } : {}),
    ...(env.env != null ? { env: env.env } : {})
  }
}

/** How `node enroll` asks for a backend (after `--key-store auto` has picked one). */
export type IdentityKeyRequest =
  | { store: 'software' }
  | { store: 'pkcs11', module?: string, tokenLabel?: string, pinFile?: string, pinEnv?: string }
  | { store: 'tpm', tcti: string, module?: string, tokenLabel?: string, pinFile?: string, pinEnv?: string }

/**
 * Opens (for enrollment) the backend `req` asks for and returns the store and the record to put
 * in node.json. For `tpm`, a TPM without a token gets one: the tpm2-pkcs11 database goes to
 * NODEDIR/tpm2-pkcs11, the user PIN comes from the PIN source, and a random SO PIN is written to
 * NODEDIR/tpm2-pkcs11/so.pin (0600) for the operator to keep or move offline.
 */
export async function prepareIdentityKeyStore (req: IdentityKeyRequest, label: string, algorithm: KeyAlgorithm, env: IdentityKeyEnv): Promise<{ store: KeyStore, ref: IdentityKeyRef, close(): Promise<void> }> {
  if (req.store === 'software') {
    const store = new SoftwareKeyStore({ dir: join(env.dir, 'keys'), ...(env.passphrase != null ? { passphrase: env.passphrase } : {}), ...(env.scryptLogN != null ? { scryptLogN: env.scryptLogN } : {}) })
    return { store, ref: { store: 'software', label, algorithm }, close: async () => {} }
  }
  if (algorithm !== 'P-256') { throw new KeyStoreError('UNSUPPORTED_ALGORITHM', `a ${req.store} identity key is P-256, not ${algorithm}`) }
  const pinRef: Pkcs11Ref = {
    module: '',
    token_label: req.tokenLabel ?? DEFAULT_TOKEN_LABEL,
    ...(req.pinFile != null ? { pin_file: resolve(req.pinFile) } : {}),
    ...(req.pinEnv != null ? { pin_env: req.pinEnv } : {})
  }
  const { Pkcs11KeyStore, findSoftHsmModule, findTpm2Pkcs11Module } = await pkcs11Code()
  let ref: IdentityKeyRef
  if (req.store === 'pkcs11') {
    const module = req.module ?? findSoftHsmModule()
    if (module == null) { throw new KeyStoreError('MODULE_NOT_FOUND', 'no --pkcs11-module given and SoftHSM2 is not installed') }
    ref = { ...pinRef, store: 'pkcs11', label, algorithm: 'P-256', module }
  } else {
    const module = req.module ?? findTpm2Pkcs11Module()
    if (module == null) { throw new KeyStoreError('MODULE_NOT_FOUND', 'tpm2-pkcs11 is not installed (Debian package libtpm2-pkcs11-1)') }
    ref = { ...pinRef, store: 'tpm', label, algorithm: 'P-256', module, tcti: req.tcti, pkcs11_store: 'tpm2-pkcs11' }
    await ensureTpmToken(ref, env)
  }
  const store = await Pkcs11KeyStore.open({ module: ref.module, tokenLabel: ref.token_label, ...pinSource(ref, env) })
  return { store, ref, close: async () => { await store.close() } }
}

/** Creates the tpm2-pkcs11 database and a token on a TPM that has none with our label. */
async function ensureTpmToken (ref: Extract<IdentityKeyRef, { store: 'tpm' }>, env: IdentityKeyEnv): Promise<void> {
  const storeDir = storeDirOf(ref, env.dir)
  await mkdir(storeDir, { recursive: true, mode: 0o700 })
  configureTpm2Pkcs11(ref.tcti, storeDir)
  const pin = await resolvePin(pinSource(ref, env))
  const { Pkcs11KeyStore, initPkcs11Token } = await pkcs11Code()
  try {
    const probe = await Pkcs11KeyStore.open({ module: ref.module, tokenLabel: ref.token_label, pin })
    await probe.close()
    return
  } catch (err) {
    if (!(err instanceof KeyStoreError) || err.code !== 'TOKEN_NOT_FOUND') { throw err }
  }
  const soPin = randomBytes(12).toString('base64url')
  await writeFile(join(storeDir, 'so.pin'), soPin + '\n', { mode: 0o600, flag: 'wx' })
  initPkcs11Token({ module: ref.module, label: ref.token_label, soPin, pin })
}
