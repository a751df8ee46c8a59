import { randomBytes } from 'node:crypto'
import { wrapKey } from './aes-key-wrap.ts'
import { AES_VARIANT, AAD_SCOPE, BCB_AES_GCM, BCB_RESULT_TAG, buildAad, contentKeyBytes, encodeBcbParams, gcmSeal, IV_BYTES } from './bcb-aes-gcm.ts'
import { BcbError } from './bcb-errors.ts'
import { checkBcbLayout, findBcbs, NEW_BCB_FLAGS, planTargets } from './bcb-rules.ts'
import { encodeAsb } from './bpsec.ts'
import { BLOCK_TYPE, decodeBundle, encodeCanonical, joinBlocks } from './bpv7.ts'
import type { AesVariant } from './bcb-aes-gcm.ts'
import type { SecurityItem } from './bpsec.ts'
import type { CanonicalBlock, DecodedBundle } from './bpv7.ts'
import type { Eid } from './eid.ts'

/**
 * Adding Block Confidentiality Blocks (RFC 9172 §3.8) in the BCB-AES-GCM context (RFC 9173 §4):
 * each target's block-type-specific data is encrypted in place, its tag becomes the BCB's result.
 *
 * `addBcb` is the API: one BCB per block it encrypts, each with a fresh IV (and, under a KEK, a
 * fresh content key), because one BCB's parameters serve all its targets and AES-GCM must never
 * see one key and IV twice. `sealBcb` builds exactly one BCB from given inputs, as RFC 9173's
 * examples do; it exists to rebuild those examples byte for byte.
 */

export interface AddBcbOptions {
  /** Blocks to encrypt, by number (the payload is 1). A BIB that covers only these is encrypted too. */
  targets: number[]
  /**
   * Key-encryption key (16, 24 or 32 bytes). The content key is wrapped under it (RFC 3394) into
   * the wrapped-key parameter: a fresh random key per BCB, or `contentKey` when given.
   */
  kek?: Uint8Array
  /**
   * Content key (16 bytes for A128GCM, 32 for A256GCM), for a key that comes from an outside key
   * agreement: without `kek` it is used as is and no wrapped-key parameter is written. Each BCB
   * draws a random 12-byte IV, so one such key must stay far below 2^32 BCBs (NIST SP 800-38D).
   */
  contentKey?: Uint8Array
  /** @default AES_VARIANT.A256GCM */
  variant?: AesVariant
  /** Which headers the AAD covers (AAD_SCOPE bits). @default all three */
  aadScope?: number
  /** A fixed IV, only when one block is encrypted (to rebuild a test vector). @default 12 random bytes per BCB */
  iv?: Uint8Array
  /** The BCB's security source. @default the bundle's source */
  source?: Eid
}

export interface SealBcbOptions {
  /** The new BCB's block number (unused, above 1). */
  number: number
  /** Exactly the blocks to encrypt, in result order, BIBs included (the §3.9 plan must match). */
  targets: number[]
  contentKey: Uint8Array
  /** When given, `contentKey` is wrapped under it into the wrapped-key parameter. */
  kek?: Uint8Array
  iv: Uint8Array
  variant: AesVariant
  aadScope: number
  source: Eid
  /**
   * Several targets share the BCB's one key and IV. AES-GCM forbids that (it leaks the XOR of the
   * plaintexts and the hash key); only a test rebuilding RFC 9173 A.4, which does it, sets this.
   */
  allowIvReuse?: boolean
}

/** A bundle being edited: blocks in wire order, with their received bytes while unchanged. */
interface Work {
  rawPrimary: Uint8Array
  blocks: CanonicalBlock[]
  raw: Array<Uint8Array | undefined>
}

interface Seal {
  number: number
  targets: number[]
  contentKey: Uint8Array
  wrappedKey?: Uint8Array
  iv: Uint8Array
  variant: AesVariant
  aadScope: number
  source: Eid
}

function bad (msg: string): BcbError {
  return new BcbError('BCB_BAD_PARAMETERS', msg)
}

function toWork (bundle: DecodedBundle): Work {
  return { rawPrimary: bundle.rawPrimary, blocks: bundle.blocks.map(b => ({ ...b })), raw: [...bundle.rawBlocks] }
}

/** Lowest unused block number above 1 (the payload is 1): what RFC 9173's examples give their BCBs. */
function freeNumber (work: Work): number {
  const used = new Set(work.blocks.map(b => b.number))
  let n = 2
  while (used.has(n)) { n++ }
  return n
}

/** Encrypts the targets in place and inserts the BCB after the last security block (or first), as RFC 9173's examples place it. */
function sealInto (work: Work, s: Seal): void {
  const header = { type: BLOCK_TYPE.BCB, number: s.number, flags: NEW_BCB_FLAGS }
  const results: SecurityItem[][] = []
  for (const t of s.targets) {
    const i = work.blocks.findIndex(b => b.number === t)
    const block = work.blocks[i]
    const aad = buildAad(work.rawPrimary, block, header, s.aadScope)
    const { ciphertext, tag } = gcmSeal(s.variant, s.contentKey, s.iv, aad, block.data)
    work.blocks[i] = { ...block, data: ciphertext }
    work.raw[i] = undefined
    results.push([[BCB_RESULT_TAG, tag]])
  }
  const params = encodeBcbParams({ iv: s.iv, variant: s.variant, wrappedKey: s.wrappedKey, aadScope: s.aadScope })
  const data = encodeAsb({ targets: s.targets, contextId: BCB_AES_GCM, source: s.source, params, results })
  let at = 0
  work.blocks.forEach((b, i) => { if (b.type === BLOCK_TYPE.BIB || b.type === BLOCK_TYPE.BCB) { at = i + 1 } })
  work.blocks.splice(at, 0, { ...header, crcType: 0, data })
  work.raw.splice(at, 0, undefined)
}

/** Encodes the edited bundle and checks it against the rules every opener applies. */
function finish (work: Work): Uint8Array {
  const bytes = joinBlocks(work.rawPrimary, work.blocks.map((b, i) => work.raw[i] ?? encodeCanonical(b)))
  const out = decodeBundle(bytes, { maxBlocks: work.blocks.length })
  checkBcbLayout(out, findBcbs(out))
  return bytes
}

function checkKey (variant: AesVariant, key: Uint8Array): void {
  if (key.length !== contentKeyBytes(variant)) { throw bad('the content key does not fit the AES variant') }
}

/**
 * Encrypts `targets` of the bundle `bytes` (and the BIBs that cover them) and returns the new
 * bundle. Throws BcbError (BCB_BAD_PARAMETERS, BCB_RULE_VIOLATION) or BundleError for a bundle
 * that does not decode.
 */
export function addBcb (bytes: Uint8Array, opts: AddBcbOptions): Uint8Array {
  const variant = opts.variant ?? AES_VARIANT.A256GCM
  const keyBytes = contentKeyBytes(variant)
  if (opts.kek == null && opts.contentKey == null) { throw bad('give a key-encryption key, a content key, or both') }
  if (opts.contentKey != null) { checkKey(variant, opts.contentKey) }
  const aadScope = opts.aadScope ?? (AAD_SCOPE.PRIMARY | AAD_SCOPE.TARGET_HEADER | AAD_SCOPE.SECURITY_HEADER)

  const bundle = decodeBundle(bytes)
  const encrypted = checkBcbLayout(bundle, findBcbs(bundle))
  const plan = planTargets(bundle, opts.targets, encrypted)
  if (opts.iv != null && plan.length > 1) { throw bad(`a fixed IV serves one block, and this plan encrypts ${plan.length}`) }

  const work = toWork(bundle)
  for (const t of plan) {
    const contentKey = opts.contentKey ?? randomBytes(keyBytes)
    try {
      sealInto(work, {
        number: freeNumber(work),
        targets: [t],
        contentKey,
        wrappedKey: opts.kek == null ? undefined : wrapKey(opts.kek, contentKey),
        iv: opts.iv ?? randomBytes(IV_BYTES),
        variant,
        aadScope,
        source: opts.source ?? bundle.primary.source
      })
    } finally {
      // a key we drew lives on only wrapped
      if (contentKey !== opts.contentKey) { contentKey.fill(0) }
    }
  }
  return finish(work)
}

/**
 * Adds one BCB built exactly from `opts` (number, targets in order, key, IV), as RFC 9173's
 * examples are built. The RFC 9172 rules apply as in `addBcb`: `targets` must be the full plan,
 * the BIBs to encrypt included.
 */
export function sealBcb (bytes: Uint8Array, opts: SealBcbOptions): Uint8Array {
  checkKey(opts.variant, opts.contentKey)
  if (opts.targets.length > 1 && opts.allowIvReuse !== true) { throw bad('one BCB over several blocks reuses its key and IV') }
  const bundle = decodeBundle(bytes)
  if (!Number.isSafeInteger(opts.number) || opts.number < 2 || bundle.blocks.some(b => b.number === opts.number)) {
    throw bad(`block number ${opts.number} is taken or not allowed`)
  }
  const encrypted = checkBcbLayout(bundle, findBcbs(bundle))
  const isBib = (t: number): boolean => bundle.blocks.some(b => b.number === t && b.type === BLOCK_TYPE.BIB)
  const plan = planTargets(bundle, opts.targets.filter(t => !isBib(t)), encrypted)
  if (plan.length !== opts.targets.length || !plan.every(t => opts.targets.includes(t))) {
    throw new BcbError('BCB_RULE_VIOLATION', `the targets must be exactly ${plan.join(', ')} (§3.9)`)
  }
  const work = toWork(bundle)
  sealInto(work, {
    number: opts.number,
    targets: opts.targets,
    contentKey: opts.contentKey,
    wrappedKey: opts.kek == null ? undefined : wrapKey(opts.kek, opts.contentKey),
    iv: opts.iv,
    variant: opts.variant,
    aadScope: opts.aadScope,
    source: opts.source
  })
  return finish(work)
}
