import { createCipheriv, createDecipheriv } from 'node:crypto'
import { BcbError } from './bcb-errors.ts'

/**
 * AES key wrap (RFC 3394), as RFC 9173 uses it for the wrapped-key parameter, through OpenSSL's
 * id-aesNNN-wrap ciphers. The initial value is RFC 3394's default; OpenSSL checks it on unwrap,
 * which is the wrap's integrity check.
 */

const DEFAULT_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex')
const WRAP_CIPHER: Record<number, string> = { 16: 'id-aes128-wrap', 24: 'id-aes192-wrap', 32: 'id-aes256-wrap' }

function cipherFor (kek: Uint8Array): string {
  const name = WRAP_CIPHER[kek.length]
  if (name == null) { throw new BcbError('BCB_BAD_PARAMETERS', 'a key-encryption key is 16, 24 or 32 bytes') }
  return name
}

/** Wraps `key` (16 or 32 bytes here: an AES-GCM content key) under `kek`; the result is 8 bytes longer. */
export function wrapKey (kek: Uint8Array, key: Uint8Array): Uint8Array {
  if (key.length !== 16 && key.length !== 32) { throw new BcbError('BCB_BAD_PARAMETERS', 'a content key is 16 or 32 bytes') }
  const c = createCipheriv(cipherFor(kek), kek, DEFAULT_IV)
  return Buffer.concat([c.update(key), c.final()])
}

/** Unwraps `wrapped` under `kek`; BCB_UNWRAP_FAILED when the integrity check fails (wrong KEK or altered bytes). */
export function unwrapKey (kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const name = cipherFor(kek)
  if (wrapped.length !== 24 && wrapped.length !== 40) { throw new BcbError('BCB_BAD_PARAMETERS', 'a wrapped content key is 24 or 40 bytes') }
  try {
    const d = createDecipheriv(name, kek, DEFAULT_IV)
    return Buffer.concat([d.update(wrapped), d.final()])
  } catch (err: any) {
    throw new BcbError('BCB_UNWRAP_FAILED', 'the wrapped key does not unwrap under this key-encryption key', { cause: err })
  }
}
