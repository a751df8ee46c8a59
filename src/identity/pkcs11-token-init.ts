import * as graphene from 'graphene-pk11'
import { KeyStoreError } from './errors.ts'
import { acquireModule, mapPkcs11Error } from './pkcs11-module.ts'

/**
 * Initializes a token through PKCS#11 itself (C_InitToken, then C_InitPIN as the SO): the one
 * way that works for every module, including tpm2-pkcs11 where Debian ships no `tpm2_ptool`.
 * Used by tests and by operators setting up `--key-store pkcs11` on a fresh TPM.
 */

export interface TokenInitOptions {
  module: string
  label: string
  soPin: string
  pin: string
}

/** PKCS#11 labels are 32 bytes, blank padded (tpm2-pkcs11 refuses NUL padding). */
function paddedLabel (label: string): string {
  if (Buffer.byteLength(label) > 32 || !/^[\x20-\x7e]+$/.test(label)) {
    throw new KeyStoreError('BAD_LABEL', 'a token label is 1-32 printable ASCII characters')
  }
  return label.padEnd(32, ' ')
}

/** Initializes the first slot whose token is not yet initialized; returns its token label. */
export function initPkcs11Token (opts: TokenInitOptions): string {
  const label = paddedLabel(opts.label)
  const ref = acquireModule(opts.module)
  try {
    const slots = ref.module.getSlots(true)
    let slot: graphene.Slot | undefined
    for (let i = 0; i < slots.length && slot == null; i++) {
      const s = slots.items(i)
      if ((s.getToken().flags & graphene.TokenFlag.TOKEN_INITIALIZED) === 0) { slot = s }
    }
    if (slot == null) { throw new KeyStoreError('TOKEN_NOT_FOUND', 'no slot with an uninitialized token') }
    try {
      // graphene's Slot.initToken mishandles the void return of C_InitToken; call it directly
      slot.lib.C_InitToken(slot.handle, opts.soPin, label)
    } catch (err) {
      throw mapPkcs11Error(err, 'C_InitToken failed')
    }
    // the module may move the new token to another slot: find it again by label
    const all = ref.module.getSlots(true)
    for (let i = 0; i < all.length; i++) {
      const s = all.items(i)
      if (s.getToken().label !== opts.label) { continue }
      const session = s.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION)
      try {
        session.login(opts.soPin, graphene.UserType.SO)
        session.initPin(opts.pin)
        session.logout()
      } catch (err) {
        throw mapPkcs11Error(err, 'C_InitPIN failed')
      } finally {
        session.close()
      }
      return opts.label
    }
    throw new KeyStoreError('TOKEN_NOT_FOUND', `token ${opts.label} vanished after C_InitToken`)
  } finally {
    ref.release()
  }
}
