import { createHmac, timingSafeEqual } from 'node:crypto'
import { encode } from 'cborg'
import { BLOCK_TYPE } from './bpv7.ts'
import { arrayField, bytesField, decodeItem, intField, splitSequence, uintField } from './cbor-items.ts'
import { decodeEid, encodeEid } from './eid.ts'
import { BundleError } from './errors.ts'
import type { DecodedBundle } from './bpv7.ts'
import type { Eid } from './eid.ts'

/**
 * BPSec (RFC 9172) abstract security blocks, and the RFC 9173 BIB-HMAC-SHA2 context as far as
 * checking the RFC's own examples needs: the integrity-protected plaintext (IPPT) construction and
 * HMAC verification with a given key. BIB key wrapping (parameter 2) is not implemented: the mesh
 * signs bundles with its own context. The BCB-AES-GCM context is in bcb-aes-gcm.ts.
 */

/** A security parameter or result: [id, value] (RFC 9172 §3.10). */
export type SecurityItem = [number, unknown]

export interface AbstractSecurityBlock {
  targets: number[]
  contextId: number
  source: Eid
  /** Context parameters, when the "parameters present" flag is set. */
  params?: SecurityItem[]
  /** One list of results per target, in target order. */
  results: SecurityItem[][]
}

/** The context id of RFC 9173 BIB-HMAC-SHA2. */
export const BIB_HMAC_SHA2 = 1
/** Most targets / parameters / results we read in one ASB; our profile uses one target. */
const MAX_ENTRIES = 16
/** [id, value] pairs hold at most an array of byte strings (a certificate chain). */
const WALK = { maxDepth: 4, maxItems: 256 }

function malformed (what: string): BundleError {
  return new BundleError('MALFORMED_BUNDLE', what)
}

function items (v: unknown, what: string): SecurityItem[] {
  return arrayField(v, what, 0, MAX_ENTRIES).map(e => {
    const pair = arrayField(e, `${what} entry`, 2, 2)
    return [intField(pair[0], `${what} id`), pair[1]]
  })
}

/** Decodes the block-type-specific data of a BIB or BCB: a CBOR sequence (RFC 9172 §3.6). */
export function decodeAsb (data: Uint8Array): AbstractSecurityBlock {
  const ranges = splitSequence(data, WALK, 0, data.length, 6)
  if (ranges.length !== 5 && ranges.length !== 6) { throw malformed('ASB must hold 5 or 6 items') }
  const [targetsV, contextV, flagsV, sourceV, ...rest] = ranges.map(([s, e]) => decodeItem(data.subarray(s, e)))
  const targets = arrayField(targetsV, 'security targets', 1, MAX_ENTRIES).map(t => uintField(t, 'security target'))
  if (new Set(targets).size !== targets.length) { throw malformed('duplicate security target') }
  const flags = uintField(flagsV, 'security context flags')
  const hasParams = (flags & 1) !== 0
  if (rest.length !== (hasParams ? 2 : 1)) { throw malformed('ASB parameters flag does not match its items') }
  const asb: AbstractSecurityBlock = {
    targets,
    contextId: intField(contextV, 'security context id'),
    source: decodeEid(sourceV, 'security source')
  } as AbstractSecurityBlock
  if (hasParams) { asb.params = items(rest[0], 'security parameters') }
  const results = arrayField(rest[rest.length - 1], 'security results', targets.length, targets.length)
  asb.results = results.map(r => items(r, 'security results'))
  return asb
}

/** Encodes an ASB as its CBOR sequence. */
export function encodeAsb (asb: AbstractSecurityBlock): Uint8Array {
  const parts = [
    encode(asb.targets), encode(asb.contextId), encode(asb.params == null ? 0 : 1), encode(encodeEid(asb.source)),
    ...(asb.params == null ? [] : [encode(asb.params)]),
    encode(asb.results)
  ]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** The value of parameter or result `id`, if present. */
export function findItem (list: SecurityItem[] | undefined, id: number): unknown {
  return list?.find(([k]) => k === id)?.[1]
}

/** Integrity scope flags of RFC 9173 §3.3.3. */
export const SCOPE = { PRIMARY: 0x1, TARGET_HEADER: 0x2, SECURITY_HEADER: 0x4 } as const

/**
 * The IPPT of RFC 9173 §3.7 for one target: CBOR(scope flags), then the primary block, the
 * target's header (type, number, flags) and the security block's header as the flags ask, then
 * the target's block-type-specific data as a CBOR byte string; for the primary block as target,
 * that byte string wraps the primary block's encoding. (Checked against the RFC's examples A.1
 * and A.3, which use scope 0, and A.4's BIB, which uses scope 7.)
 */
export function buildIppt (bundle: DecodedBundle, target: number, securityBlockNumber: number, scope: number): Uint8Array {
  const parts: Uint8Array[] = [encode(scope)]
  if ((scope & SCOPE.PRIMARY) !== 0) { parts.push(bundle.rawPrimary) }
  let data: Uint8Array
  if (target === 0) {
    data = bundle.rawPrimary
    if ((scope & SCOPE.TARGET_HEADER) !== 0) { parts.push(encode(0), encode(0), encode(bundle.primary.flags)) }
  } else {
    const block = bundle.blocks.find(b => b.number === target)
    if (block == null) { throw malformed(`security target ${target} is not in the bundle`) }
    data = block.data
    if ((scope & SCOPE.TARGET_HEADER) !== 0) { parts.push(encode(block.type), encode(block.number), encode(block.flags)) }
  }
  if ((scope & SCOPE.SECURITY_HEADER) !== 0) {
    const sec = bundle.blocks.find(b => b.number === securityBlockNumber)
    if (sec == null) { throw malformed('security block is not in the bundle') }
    parts.push(encode(sec.type), encode(sec.number), encode(sec.flags))
  }
  parts.push(encode(data))
  return Buffer.concat(parts)
}

const SHA_VARIANT: Record<number, { hash: string, bytes: number }> = {
  5: { hash: 'sha256', bytes: 32 },
  6: { hash: 'sha384', bytes: 48 },
  7: { hash: 'sha512', bytes: 64 }
}

/**
 * Verifies every target of a BIB-HMAC-SHA2 block (RFC 9173 §3) with `key`. Returns one boolean per
 * target. Throws MALFORMED_BUNDLE for another context, an unknown SHA variant, or a wrapped key.
 */
export function verifyBibHmacSha2 (bundle: DecodedBundle, bibNumber: number, key: Uint8Array): boolean[] {
  const block = bundle.blocks.find(b => b.number === bibNumber)
  if (block == null || block.type !== BLOCK_TYPE.BIB) { throw malformed(`block ${bibNumber} is not a BIB`) }
  const asb = decodeAsb(block.data)
  if (asb.contextId !== BIB_HMAC_SHA2) { throw malformed('not a BIB-HMAC-SHA2 block') }
  if (findItem(asb.params, 2) != null) { throw malformed('wrapped keys are not supported') }
  const variant = SHA_VARIANT[uintField(findItem(asb.params, 1) ?? 6, 'SHA variant')]
  if (variant == null) { throw malformed('unknown SHA variant') }
  const scope = uintField(findItem(asb.params, 3) ?? 7, 'integrity scope flags')
  return asb.targets.map((target, i) => {
    const expected = bytesField(findItem(asb.results[i], 1), 'expected HMAC', variant.bytes, variant.bytes)
    const mac = createHmac(variant.hash, key).update(buildIppt(bundle, target, bibNumber, scope)).digest()
    return timingSafeEqual(mac, expected)
  })
}
