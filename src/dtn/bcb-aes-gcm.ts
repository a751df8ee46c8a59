import { createCipheriv, createDecipheriv } from 'node:crypto'
import { encode } from 'cborg'
import { BcbError } from './bcb-errors.ts'
import { SCOPE } from './bpsec.ts'
import type { SecurityItem } from './bpsec.ts'
import type { CipherGCMTypes } from 'node:crypto'

/**
 * The RFC 9173 §4 BCB-AES-GCM security context: its parameters and result, the additional
 * authenticated data (AAD) of §4.7.2, and AES-GCM itself (OpenSSL through node:crypto). The
 * bundle-level steps (which blocks, where the BCB goes, the RFC 9172 rules) are in add-bcb.ts and
 * open-bcb.ts.
 */

/** The context id of RFC 9173 BCB-AES-GCM. */
export const BCB_AES_GCM = 2

/** Context parameter ids (RFC 9173 §4.3). */
export const BCB_PARAM = { IV: 1, AES_VARIANT: 2, WRAPPED_KEY: 3, AAD_SCOPE: 4 } as const
/** The one result id: the authentication tag (RFC 9173 §4.4). */
export const BCB_RESULT_TAG = 1

/** AES variants (RFC 9173 §4.3.2, COSE algorithm ids). */
export const AES_VARIANT = { A128GCM: 1, A256GCM: 3 } as const
export type AesVariant = typeof AES_VARIANT[keyof typeof AES_VARIANT]
const KEY_BYTES: Record<number, number> = { [AES_VARIANT.A128GCM]: 16, [AES_VARIANT.A256GCM]: 32 }

/** The AAD scope flags share the bits of BIB-HMAC-SHA2's integrity scope (RFC 9173 §4.3.4). */
export const AAD_SCOPE = SCOPE
const ALL_SCOPE = SCOPE.PRIMARY | SCOPE.TARGET_HEADER | SCOPE.SECURITY_HEADER

/** RFC 9173 asks for a 12-byte IV (a SHOULD): we write 12 and read 8 to 16. The tag is always 128 bits. */
export const IV_BYTES = 12
const MIN_IV_BYTES = 8
const MAX_IV_BYTES = 16
export const TAG_BYTES = 16

export interface BcbParams {
  iv: Uint8Array
  /** A256GCM when the parameter is absent. */
  variant: AesVariant
  /** The content key wrapped under a KEK (RFC 3394); absent when the key comes from elsewhere. */
  wrappedKey?: Uint8Array
  /** 7 (all three flags) when the parameter is absent. */
  aadScope: number
}

/** The header fields of a canonical block that the AAD can cover. */
export interface BlockHeader { type: number, number: number, flags: number }

function bad (msg: string): BcbError {
  return new BcbError('BCB_BAD_PARAMETERS', msg)
}

/** Content-key length of an AES variant; BCB_BAD_PARAMETERS for an unknown one. */
export function contentKeyBytes (variant: number): number {
  const n = KEY_BYTES[variant]
  if (n == null) { throw bad(`unknown AES variant ${variant}`) }
  return n
}

function checkScope (scope: number): number {
  // the three flags are bits 0-2, so every value above 7 holds a bit RFC 9173 does not define
  if (!Number.isInteger(scope) || scope < 0 || scope > ALL_SCOPE) { throw bad('AAD scope flags hold unknown bits') }
  return scope
}

function checkIv (iv: Uint8Array): Uint8Array {
  if (iv.length < MIN_IV_BYTES || iv.length > MAX_IV_BYTES) { throw bad(`an IV is ${MIN_IV_BYTES}-${MAX_IV_BYTES} bytes`) }
  return iv
}

/** Encodes the parameters in id order, each one explicit (as the RFC 9173 examples do). */
export function encodeBcbParams (p: BcbParams): SecurityItem[] {
  contentKeyBytes(p.variant)
  const out: SecurityItem[] = [[BCB_PARAM.IV, checkIv(p.iv)], [BCB_PARAM.AES_VARIANT, p.variant]]
  if (p.wrappedKey != null) { out.push([BCB_PARAM.WRAPPED_KEY, p.wrappedKey]) }
  out.push([BCB_PARAM.AAD_SCOPE, checkScope(p.aadScope)])
  return out
}

/**
 * Reads the parameters of a BCB-AES-GCM block strictly: the IV is required, every id at most
 * once, no id RFC 9173 does not define, each value of its type (bpsec.ts decoded the list with
 * bounds, so values are small), sizes as the variant implies.
 */
export function decodeBcbParams (items: SecurityItem[] | undefined): BcbParams {
  if (items == null) { throw bad('BCB-AES-GCM needs parameters (the IV at least)') }
  const seen = new Map<number, unknown>()
  for (const [id, value] of items) {
    if (seen.has(id)) { throw bad(`parameter ${id} appears twice`) }
    seen.set(id, value)
  }
  for (const id of seen.keys()) {
    if (id !== BCB_PARAM.IV && id !== BCB_PARAM.AES_VARIANT && id !== BCB_PARAM.WRAPPED_KEY && id !== BCB_PARAM.AAD_SCOPE) { throw bad(`unknown parameter ${id}`) }
  }
  const ivV = seen.get(BCB_PARAM.IV)
  if (!(ivV instanceof Uint8Array)) { throw bad(seen.has(BCB_PARAM.IV) ? 'the IV is not a byte string' : 'the IV parameter is missing') }
  const variant = seen.has(BCB_PARAM.AES_VARIANT) ? seen.get(BCB_PARAM.AES_VARIANT) : AES_VARIANT.A256GCM
  if (typeof variant !== 'number') { throw bad('the AES variant is not an integer') }
  const keyBytes = contentKeyBytes(variant)
  const scope = seen.has(BCB_PARAM.AAD_SCOPE) ? seen.get(BCB_PARAM.AAD_SCOPE) : ALL_SCOPE
  if (typeof scope !== 'number') { throw bad('the AAD scope flags are not an unsigned integer') }
  const params: BcbParams = { iv: checkIv(ivV), variant: variant as AesVariant, aadScope: checkScope(scope) }
  if (seen.has(BCB_PARAM.WRAPPED_KEY)) {
    const wrapped = seen.get(BCB_PARAM.WRAPPED_KEY)
    // RFC 3394 adds one 8-byte block to the key it wraps
    if (!(wrapped instanceof Uint8Array) || wrapped.length !== keyBytes + 8) { throw bad('the wrapped key does not fit the AES variant') }
    params.wrappedKey = wrapped
  }
  return params
}

/** The authentication tag among one target's results: exactly one result, id 1, 16 bytes. */
export function decodeTagResult (results: SecurityItem[]): Uint8Array {
  if (results.length !== 1 || results[0][0] !== BCB_RESULT_TAG) { throw bad('each target needs exactly one result, the authentication tag') }
  const tag = results[0][1]
  if (!(tag instanceof Uint8Array) || tag.length !== TAG_BYTES) { throw bad(`the authentication tag is ${TAG_BYTES} bytes`) }
  return tag
}

/**
 * The AAD of RFC 9173 §4.7.2: CBOR(scope flags), then as the flags ask the primary block as
 * encoded, the target's type, number and flags, and the BCB's type, number and flags, each an
 * unsigned integer. Unlike the BIB's IPPT, the target's data is not part of it: it is the plaintext.
 */
export function buildAad (rawPrimary: Uint8Array, target: BlockHeader, security: BlockHeader, scope: number): Uint8Array {
  const parts: Uint8Array[] = [encode(scope)]
  if ((scope & SCOPE.PRIMARY) !== 0) { parts.push(rawPrimary) }
  if ((scope & SCOPE.TARGET_HEADER) !== 0) { parts.push(encode(target.type), encode(target.number), encode(target.flags)) }
  if ((scope & SCOPE.SECURITY_HEADER) !== 0) { parts.push(encode(security.type), encode(security.number), encode(security.flags)) }
  return Buffer.concat(parts)
}

function cipherName (variant: AesVariant, key: Uint8Array): CipherGCMTypes {
  if (key.length !== contentKeyBytes(variant)) { throw bad('the content key does not fit the AES variant') }
  return variant === AES_VARIANT.A128GCM ? 'aes-128-gcm' : 'aes-256-gcm'
}

/** AES-GCM encryption of one target's data: ciphertext of the same length, and the 16-byte tag. */
export function gcmSeal (variant: AesVariant, key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): { ciphertext: Uint8Array, tag: Uint8Array } {
  const c = createCipheriv(cipherName(variant, key), key, checkIv(iv), { authTagLength: TAG_BYTES })
  c.setAAD(aad)
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()])
  return { ciphertext, tag: c.getAuthTag() }
}

/** AES-GCM decryption of one target's data; BCB_TAG_MISMATCH when authentication fails. */
export function gcmOpen (variant: AesVariant, key: Uint8Array, iv: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array {
  const d = createDecipheriv(cipherName(variant, key), key, checkIv(iv), { authTagLength: TAG_BYTES })
  d.setAAD(aad)
  d.setAuthTag(tag)
  const plaintext = d.update(ciphertext)
  try {
    return Buffer.concat([plaintext, d.final()])
  } catch (err: any) {
    // nothing decrypted leaves this function unauthenticated
    plaintext.fill(0)
    throw new BcbError('BCB_TAG_MISMATCH', 'AES-GCM authentication failed', { cause: err })
  }
}
