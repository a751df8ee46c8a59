import { unwrapKey } from './aes-key-wrap.ts'
import { BCB_AES_GCM, buildAad, contentKeyBytes, decodeBcbParams, decodeTagResult, gcmOpen } from './bcb-aes-gcm.ts'
import { BcbError } from './bcb-errors.ts'
import { checkBcbLayout, checkOpenedBib, findBcbs } from './bcb-rules.ts'
import { decodeAsb } from './bpsec.ts'
import { BLOCK_TYPE, decodeBundle, encodeCanonical, joinBlocks } from './bpv7.ts'
import type { BcbParams } from './bcb-aes-gcm.ts'
import type { BcbView } from './bcb-rules.ts'
import type { DecodeLimits } from './bpv7.ts'

/**
 * Opening the Block Confidentiality Blocks of a bundle at its destination (RFC 9172 §5.1.1): every
 * BCB is checked (context, parameters, the RFC 9172 rules) before any key is used, then every
 * target is decrypted and authenticated, then the BCBs are removed. All or nothing: a bundle with
 * one target that fails is refused whole (RFC 9172 discards only a failed non-payload target; a
 * partly readable bundle is not one we deliver).
 */

/** The destination's keys: a KEK for BCBs that carry a wrapped key, a content key for those that do not. */
export interface BcbKeys {
  kek?: Uint8Array
  contentKey?: Uint8Array
}

export interface OpenedBundle {
  /** The bundle with its targets in plaintext and no BCB left. */
  bytes: Uint8Array
  /** Block numbers that were encrypted, in the order opened. */
  decrypted: number[]
}

interface Checked { view: BcbView, params: BcbParams, tags: Uint8Array[] }

/** Context, parameters and results of one BCB: all before any key is touched. */
function checkBcb (view: BcbView): Checked {
  if (view.asb.contextId !== BCB_AES_GCM) {
    throw new BcbError('BCB_UNSUPPORTED_CONTEXT', `BCB ${view.block.number} uses security context ${view.asb.contextId}, not BCB-AES-GCM`)
  }
  return { view, params: decodeBcbParams(view.asb.params), tags: view.asb.results.map(decodeTagResult) }
}

function contentKeyFor (c: Checked, keys: BcbKeys): Uint8Array {
  if (c.params.wrappedKey != null) {
    if (keys.kek == null) { throw new BcbError('BCB_NO_KEY', `BCB ${c.view.block.number} carries a wrapped key and no KEK was given`) }
    return unwrapKey(keys.kek, c.params.wrappedKey)
  }
  if (keys.contentKey == null) { throw new BcbError('BCB_NO_KEY', `BCB ${c.view.block.number} carries no wrapped key and no content key was given`) }
  if (keys.contentKey.length !== contentKeyBytes(c.params.variant)) { throw new BcbError('BCB_NO_KEY', 'the content key does not fit the BCB\'s AES variant') }
  return keys.contentKey
}

/**
 * Decrypts every BCB of the bundle `bytes` with `keys` and returns the bundle in plaintext. A bundle
 * without BCB comes back unchanged. Throws BcbError (every code) or BundleError for a bundle or a
 * security block that does not decode.
 */
export function openBcb (bytes: Uint8Array, keys: BcbKeys, limits: DecodeLimits = {}): OpenedBundle {
  const bundle = decodeBundle(bytes, limits)
  const views = findBcbs(bundle)
  if (views.length === 0) { return { bytes, decrypted: [] } }
  const checked = views.map(checkBcb)
  const encrypted = checkBcbLayout(bundle, views)
  if (bundle.primary.fragment != null) { throw new BcbError('BCB_RULE_VIOLATION', 'an encrypted fragment opens only once reassembled') }

  const plain = new Map<number, Uint8Array>()
  const decrypted: number[] = []
  for (const c of checked) {
    const key = contentKeyFor(c, keys)
    try {
      c.view.asb.targets.forEach((t, i) => {
        const block = bundle.blocks.find(b => b.number === t)
        if (block == null) { throw new BcbError('BCB_RULE_VIOLATION', `BCB target ${t} is not in the bundle`) }
        const aad = buildAad(bundle.rawPrimary, block, c.view.block, c.params.aadScope)
        plain.set(t, gcmOpen(c.params.variant, key, c.params.iv, aad, block.data, c.tags[i]))
        decrypted.push(t)
      })
    } finally {
      if (key !== keys.contentKey) { key.fill(0) }
    }
  }
  // only now can an encrypted BIB's targets be read: each must have been encrypted too
  for (const b of bundle.blocks) {
    const data = plain.get(b.number)
    if (b.type === BLOCK_TYPE.BIB && data != null) { checkOpenedBib(b.number, decodeAsb(data), encrypted) }
  }

  const rawBlocks: Uint8Array[] = []
  bundle.blocks.forEach((b, i) => {
    if (b.type === BLOCK_TYPE.BCB) { return }
    const data = plain.get(b.number)
    rawBlocks.push(data == null ? bundle.rawBlocks[i] : encodeCanonical({ ...b, data }))
  })
  return { bytes: joinBlocks(bundle.rawPrimary, rawBlocks), decrypted }
}
