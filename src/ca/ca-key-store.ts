import { resolve } from 'node:path'
import { KeyStoreError } from '../identity/errors.ts'
import { Pkcs11KeyStore } from '../identity/pkcs11-key-store.ts'
import { findSoftHsmModule } from '../identity/pkcs11-module.ts'
import { SoftwareKeyStore } from '../identity/software-key-store.ts'
import { IssuanceError } from './errors.ts'
import type { KeyStore } from '../identity/key-store.ts'

/**
 * Where the CA's own keys live, as ca.json records it (`key_store`): encrypted files in DIR/keys
 * (the default, also when the field is absent), or a PKCS#11 token (`ca init --key-store
 * pkcs11`), where root and issuing keys are created non-extractable and every certificate and CRL
 * is signed inside the token. The PIN is never recorded: a file or an environment variable.
 */
export type CaKeyStoreConfig =
  | { type: 'software' }
  | { type: 'pkcs11', module: string, token_label: string, pin_file?: string, pin_env?: string }

/** How `ca init` / `MeshCa.open` are told to use a token, and the PIN for this run. */
export interface CaPkcs11Options {
  /** @default SoftHSM2, when installed */
  module?: string
  tokenLabel?: string
  pinFile?: string
  pinEnv?: string
  /** The PIN itself (tests, embedding programs); wins over the file and the environment. */
  pin?: string
  env?: Record<string, string | undefined>
}

/** Checks ca.json's `key_store` (absent means software). */
export function validateCaKeyStore (v: unknown): CaKeyStoreConfig {
  const bad = (): never => { throw new IssuanceError('BAD_CA_CONFIG', 'ca.json: bad key_store') }
  if (v == null) { return { type: 'software' } }
  if (typeof v !== 'object' || Array.isArray(v)) { return bad() }
  const o = v as Record<string, unknown>
  if (o.type === 'software') { return { type: 'software' } }
  if (o.type !== 'pkcs11' || typeof o.module !== 'string' || typeof o.token_label !== 'string') { return bad() }
  if ((o.pin_file != null && typeof o.pin_file !== 'string') || (o.pin_env != null && typeof o.pin_env !== 'string')) { return bad() }
  return {
    type: 'pkcs11',
    module: o.module,
    token_label: o.token_label,
    ...(typeof o.pin_file === 'string' ? { pin_file: o.pin_file } : {}),
    ...(typeof o.pin_env === 'string' ? { pin_env: o.pin_env } : {})
  }
}

/** The ca.json record for a token chosen at `ca init`. */
export function pkcs11KeyStoreConfig (o: CaPkcs11Options): CaKeyStoreConfig {
  const module = o.module ?? findSoftHsmModule()
  if (module == null) { throw new KeyStoreError('MODULE_NOT_FOUND', 'no PKCS#11 module given and SoftHSM2 is not installed') }
  if (o.tokenLabel == null) { throw new KeyStoreError('TOKEN_NOT_FOUND', 'a PKCS#11 CA needs the token label (--pkcs11-token)') }
  return {
    type: 'pkcs11',
    module,
    token_label: o.tokenLabel,
    ...(o.pinFile != null ? { pin_file: resolve(o.pinFile) } : {}),
    ...(o.pinEnv != null ? { pin_env: o.pinEnv } : {})
  }
}

/** Opens the CA's key store; `close` releases a token session. */
export async function openCaKeyStore (config: CaKeyStoreConfig, keysDir: string, passphrase: string | undefined, pin: Pick<CaPkcs11Options, 'pin' | 'env'> = {}, scryptLogN?: number): Promise<{ store: KeyStore, close(): Promise<void> }> {
  if (config.type === 'software') {
    if (passphrase == null || passphrase === '') { throw new KeyStoreError('NO_PASSPHRASE', 'the CA keys need a passphrase') }
    return { store: new SoftwareKeyStore({ dir: keysDir, passphrase, ...(scryptLogN != null ? { scryptLogN } : {}) }), close: async () => {} }
  }
  const store = await Pkcs11KeyStore.open({
    module: config.module,
    tokenLabel: config.token_label,
    ...(pin.pin != null ? { pin: pin.pin } : {}),
    ...(config.pin_file != null ? { pinFile: config.pin_file } : {}),
    ...(config.pin_env != null ? { pinEnv: config.pin_env } : {}),
    ...(pin.env != null ? { env: pin.env } : {})
  })
  return { store, close: async () => { await store.close() } }
}
