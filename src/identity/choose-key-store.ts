import { statSync } from 'node:fs'
import { KeyStoreError } from './errors.ts'
import { Pkcs11KeyStore } from './pkcs11-key-store.ts'
import { findSoftHsmModule, findTpm2Pkcs11Module } from './pkcs11-module.ts'
import type { IdentityKeyRequest } from './identity-key-store.ts'

/** What `--key-store` may say. */
export type KeyStoreKind = 'software' | 'pkcs11' | 'tpm' | 'auto'

export const KEY_STORE_KINDS: readonly KeyStoreKind[] = ['software', 'pkcs11', 'tpm', 'auto']

/** True when `s` names a key store kind. */
export function isKeyStoreKind (s: string): s is KeyStoreKind {
  return (KEY_STORE_KINDS as readonly string[]).includes(s)
}

/** The kernel's TPM resource manager: what tpm2-tools and tpm2-pkcs11 use on real hardware. */
export const TPM_DEVICE = '/dev/tpmrm0'
export const TPM_DEVICE_TCTI = `device:${TPM_DEVICE}`

export interface KeyStoreOptions {
  pkcs11Module?: string
  pkcs11Token?: string
  pkcs11PinFile?: string
  pkcs11PinEnv?: string
  /** The PIN itself (tests, embedding programs). */
  pin?: string
  /** TPM for a `tpm` key store (and for attestation). @default the kernel device, when present */
  tpmTcti?: string
  env?: Record<string, string | undefined>
  /** Where the TPM device is looked for (tests point it elsewhere). @default /dev/tpmrm0 */
  tpmDevice?: string
}

/** The backend chosen, why, and the TPM (if any) the node can attest with. */
export interface KeyStoreChoice {
  request: IdentityKeyRequest
  /** One line for the operator, e.g. "pkcs11: token dadm in /usr/lib/softhsm/libsofthsm2.so". */
  reason: string
  /** TCTI of a TPM present on this machine (given, or the kernel device). */
  tpmTcti?: string
}

function exists (p: string): boolean {
  try { statSync(p); return true } catch { return false }
}

/**
 * Resolves `--key-store`: an explicit kind is taken as asked (with the TPM defaulting to the
 * kernel device); `auto` picks a PKCS#11 token that opens with the PIN source, else a TPM with
 * tpm2-pkcs11 installed, else the software store, and says which and why.
 */
export async function chooseKeyStore (kind: KeyStoreKind, o: KeyStoreOptions = {}): Promise<KeyStoreChoice> {
  const device = o.tpmDevice ?? TPM_DEVICE
  const tpmTcti = o.tpmTcti ?? (exists(device) ? `device:${device}` : undefined)
  const tpm = tpmTcti != null ? { tpmTcti } : {}
  const pinOpts = {
    ...(o.pkcs11Token != null ? { tokenLabel: o.pkcs11Token } : {}),
    ...(o.pkcs11PinFile != null ? { pinFile: o.pkcs11PinFile } : {}),
    ...(o.pkcs11PinEnv != null ? { pinEnv: o.pkcs11PinEnv } : {})
  }
  switch (kind) {
    case 'software':
      return { request: { store: 'software' }, reason: 'software: encrypted key file', ...tpm }
    case 'pkcs11':
      return { request: { store: 'pkcs11', ...(o.pkcs11Module != null ? { module: o.pkcs11Module } : {}), ...pinOpts }, reason: `pkcs11: ${o.pkcs11Module ?? 'SoftHSM2'}`, ...tpm }
    case 'tpm':
      if (tpmTcti == null) { throw new KeyStoreError('MODULE_NOT_FOUND', `no TPM: ${device} is missing and no --tpm-tcti was given`) }
      return { request: { store: 'tpm', tcti: tpmTcti, ...pinOpts }, reason: `tpm: ${tpmTcti} through tpm2-pkcs11`, tpmTcti }
    case 'auto':
      break
    default:
      throw new KeyStoreError('TOKEN_ERROR', `unknown key store ${String(kind)}`)
  }
  // 1. a PKCS#11 token we can log in to
  const module = o.pkcs11Module ?? findSoftHsmModule()
  if (module != null) {
    const label = await probeToken(module, o)
    if (label != null) {
      return { request: { store: 'pkcs11', module, ...pinOpts, tokenLabel: label }, reason: `pkcs11: token ${JSON.stringify(label)} in ${module}`, ...tpm }
    }
  }
  // 2. a TPM, through tpm2-pkcs11
  if (tpmTcti != null && findTpm2Pkcs11Module() != null) {
    return { request: { store: 'tpm', tcti: tpmTcti, ...pinOpts }, reason: `tpm: ${tpmTcti} through tpm2-pkcs11`, tpmTcti }
  }
  // 3. the encrypted file
  return { request: { store: 'software' }, reason: 'software: no PKCS#11 token opened with the PIN source and no TPM with tpm2-pkcs11', ...tpm }
}

/** Opens the token to see that it is there and the PIN works; its label, or undefined. */
async function probeToken (module: string, o: KeyStoreOptions): Promise<string | undefined> {
  try {
    const store = await Pkcs11KeyStore.open({
      module,
      ...(o.pkcs11Token != null ? { tokenLabel: o.pkcs11Token } : {}),
      ...(o.pin != null ? { pin: o.pin } : {}),
      ...(o.pkcs11PinFile != null ? { pinFile: o.pkcs11PinFile } : {}),
      ...(o.pkcs11PinEnv != null ? { pinEnv: o.pkcs11PinEnv } : {}),
      ...(o.env != null ? { env: o.env } : {})
    })
    const label = store.info.tokenLabel.trim()
    await store.close()
    return label
  } catch {
    return undefined
  }
}
