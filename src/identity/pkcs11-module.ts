import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import * as graphene from 'graphene-pk11'
import { KeyStoreError } from './errors.ts'

/**
 * Loading PKCS#11 modules and finding tokens. A module may be initialized once per process
 * (C_Initialize), and C_Finalize ends every session on it, so modules are shared and counted:
 * the last store to close one finalizes it.
 */

/** Where Debian, Fedora and source builds put SoftHSM2; checked before the bounded walk. */
const SOFTHSM_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/lib64/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so'
]

const TPM2_PKCS11_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so',
  '/usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so',
  '/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1',
  '/usr/lib/aarch64-linux-gnu/libtpm2_pkcs11.so.1',
  '/usr/lib64/pkcs11/libtpm2_pkcs11.so',
  '/usr/local/lib/libtpm2_pkcs11.so'
]

/** Bound on the directory walk under /usr/lib: two levels, a few thousand entries at most. */
const MAX_WALK_ENTRIES = 5000

function isFile (p: string): boolean {
  try { return statSync(p).isFile() } catch { return false }
}

/** Looks for `fileName` in /usr/lib, its subfolders and their subfolders (bounded). */
function walkUsrLib (fileName: string): string | undefined {
  let seen = 0
  const level = (dir: string, depth: number): string | undefined => {
    let names: string[]
    try { names = readdirSync(dir) } catch { return undefined }
    for (const n of names) {
      if (++seen > MAX_WALK_ENTRIES) { return undefined }
      const p = join(dir, n)
      if (n === fileName && isFile(p)) { return p }
      if (depth > 0 && !n.includes('.')) {
        const found = level(p, depth - 1)
        if (found != null) { return found }
      }
    }
    return undefined
  }
  return level('/usr/lib', 2)
}

/** The SoftHSM2 module path on this machine, or undefined when softhsm2 is not installed. */
export function findSoftHsmModule (): string | undefined {
  return SOFTHSM_CANDIDATES.find(isFile) ?? walkUsrLib('libsofthsm2.so')
}

/** The tpm2-pkcs11 module path (Debian `libtpm2-pkcs11-1`), or undefined. */
export function findTpm2Pkcs11Module (): string | undefined {
  return TPM2_PKCS11_CANDIDATES.find(isFile) ?? walkUsrLib('libtpm2_pkcs11.so')
}

interface Loaded { module: graphene.Module, refs: number }
const loaded = new Map<string, Loaded>()

/** A counted reference to an initialized module; `release` finalizes it with the last user. */
export interface ModuleRef {
  readonly module: graphene.Module
  release(): void
}

/** Loads and initializes the module at `path` (or shares the one already loaded). */
export function acquireModule (path: string): ModuleRef {
  let entry = loaded.get(path)
  if (entry == null) {
    if (!isFile(path)) { throw new KeyStoreError('MODULE_NOT_FOUND', `no PKCS#11 module at ${path}`) }
    let module: graphene.Module
    try {
      module = graphene.Module.load(path, path)
      module.initialize()
    } catch (err) {
      throw mapPkcs11Error(err, `cannot initialize PKCS#11 module ${path}`)
    }
    entry = { module, refs: 0 }
    loaded.set(path, entry)
  }
  entry.refs++
  const e = entry
  let released = false
  return {
    module: e.module,
    release () {
      if (released) { return }
      released = true
      if (--e.refs > 0) { return }
      loaded.delete(path)
      try { e.module.finalize() } catch {}
      try { e.module.close() } catch {}
    }
  }
}

/** How a store names its token: by label (stable) or by index among slots with a token. */
export interface TokenSelector {
  tokenLabel?: string
  slot?: number
}

/** Finds the slot holding the selected token (default: the first initialized token). */
export function findSlot (module: graphene.Module, sel: TokenSelector): graphene.Slot {
  const slots = module.getSlots(true)
  if (sel.slot != null) {
    if (!Number.isSafeInteger(sel.slot) || sel.slot < 0 || sel.slot >= slots.length) {
      throw new KeyStoreError('TOKEN_NOT_FOUND', `no slot ${sel.slot} (the module has ${slots.length} with a token)`)
    }
    const slot = slots.items(sel.slot)
    if (sel.tokenLabel != null && slot.getToken().label !== sel.tokenLabel) {
      throw new KeyStoreError('TOKEN_NOT_FOUND', `slot ${sel.slot} does not hold token ${JSON.stringify(sel.tokenLabel)}`)
    }
    return slot
  }
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i)
    const token = slot.getToken()
    const initialized = (token.flags & graphene.TokenFlag.TOKEN_INITIALIZED) !== 0
    if (sel.tokenLabel != null ? token.label === sel.tokenLabel : initialized) { return slot }
  }
  throw new KeyStoreError('TOKEN_NOT_FOUND', sel.tokenLabel != null ? `no token labelled ${JSON.stringify(sel.tokenLabel)}` : 'no initialized token')
}

/** Opens a read-write session on `slot` and logs the user in. */
export function openSession (slot: graphene.Slot, pin: string): graphene.Session {
  let session: graphene.Session
  try {
    session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION)
  } catch (err) {
    throw mapPkcs11Error(err, 'cannot open a session on the token')
  }
  try {
    session.login(pin, graphene.UserType.USER)
  } catch (err: any) {
    // a second store on the same token in this process shares the login state (PKCS#11 §5.6)
    if (err?.code !== 0x100) { // CKR_USER_ALREADY_LOGGED_IN
      try { session.close() } catch {}
      throw mapPkcs11Error(err, 'cannot log in to the token')
    }
  }
  return session
}

const CKR_PIN_INCORRECT = 0xa0
const CKR_PIN_LOCKED = 0xa4
const CKR_PIN_LEN_RANGE = 0xa2

/** Maps a pkcs11js / graphene failure to a KeyStoreError with a bounded code. */
export function mapPkcs11Error (err: unknown, what: string): KeyStoreError {
  if (err instanceof KeyStoreError) { return err }
  const code = (err as { code?: unknown })?.code
  if (code === CKR_PIN_INCORRECT || code === CKR_PIN_LEN_RANGE) { return new KeyStoreError('WRONG_PIN', `${what}: the PIN is wrong`, { cause: err }) }
  if (code === CKR_PIN_LOCKED) { return new KeyStoreError('PIN_LOCKED', `${what}: the PIN is locked`, { cause: err }) }
  return new KeyStoreError('TOKEN_ERROR', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}
