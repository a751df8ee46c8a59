import { encode } from 'cborg'
import { arrayField, bytesField, decodeItem, splitIndefiniteArray, uintField } from './cbor-items.ts'
import { blockCrc, crcLength } from './crc.ts'
import { decodeEid, encodeEid } from './eid.ts'
import { BundleError } from './errors.ts'
import type { CrcType } from './crc.ts'
import type { Eid } from './eid.ts'

/**
 * BPv7 bundle encoding (RFC 9171 §4): an indefinite-length CBOR array of a primary block and
 * canonical blocks, the payload block last. This layer is generic (any BPv7 bundle parses, so the
 * RFC 9173 examples are our check); the mesh's profile and signature sit on top (mesh-bundle.ts).
 */

/** Bundle processing control flags (RFC 9171 §4.2.3) that we set or read. */
export const BUNDLE_FLAG = {
  IS_FRAGMENT: 0x01,
  ADMIN_RECORD: 0x02,
  MUST_NOT_FRAGMENT: 0x04
} as const

/** Block type codes (RFC 9171 §9.1, RFC 9172 §11.1). */
export const BLOCK_TYPE = {
  PAYLOAD: 1,
  PREVIOUS_NODE: 6,
  BUNDLE_AGE: 7,
  HOP_COUNT: 10,
  BIB: 11,
  BCB: 12
} as const

export interface PrimaryBlock {
  version: 7
  flags: number
  crcType: CrcType
  destination: Eid
  source: Eid
  reportTo: Eid
  /** Creation time, milliseconds since the DTN epoch (2000-01-01); 0 when the source had no clock. */
  creationTime: number
  sequence: number
  lifetimeMs: number
  /** Present when the bundle is a fragment (flag IS_FRAGMENT). */
  fragment?: { offset: number, totalAduLength: number }
}

export interface CanonicalBlock {
  type: number
  number: number
  flags: number
  crcType: CrcType
  data: Uint8Array
}

export interface DecodedBundle {
  primary: PrimaryBlock
  /** Canonical blocks in wire order; the last is the payload block. */
  blocks: CanonicalBlock[]
  /** The exact encodings as received (views into the input), for CRCs and signatures. */
  rawPrimary: Uint8Array
  rawBlocks: Uint8Array[]
}

export interface DecodeLimits {
  /** Most canonical blocks accepted. @default 15 */
  maxBlocks?: number
}

/** Nesting inside a block: block array > EID array > ipn SSP array. */
const WALK = { maxDepth: 3, maxItems: 512 }
const DEFAULT_MAX_BLOCKS = 15

function malformed (what: string): BundleError {
  return new BundleError('MALFORMED_BUNDLE', what)
}

function crcTypeField (v: unknown): CrcType {
  const t = uintField(v, 'CRC type')
  if (t !== 0 && t !== 1 && t !== 2) { throw malformed(`unknown CRC type ${t}`) }
  return t
}

/** Checks the CRC carried as the last element of a block's encoding. */
function checkCrc (type: CrcType, raw: Uint8Array, value: unknown): void {
  if (type === 0) { return }
  const got = bytesField(value, 'CRC', crcLength(type), crcLength(type))
  const want = blockCrc(type, raw)
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) { throw new BundleError('CRC_MISMATCH', 'block CRC does not match') }
  }
}

function decodePrimary (raw: Uint8Array): PrimaryBlock {
  const a = arrayField(decodeItem(raw), 'primary block', 8, 11)
  const version = uintField(a[0], 'version')
  if (version !== 7) { throw new BundleError('UNSUPPORTED_VERSION', `bundle protocol version ${version} is not 7`) }
  const flags = uintField(a[1], 'bundle flags')
  const crcType = crcTypeField(a[2])
  const isFragment = (flags & BUNDLE_FLAG.IS_FRAGMENT) !== 0
  const expected = 8 + (isFragment ? 2 : 0) + (crcType === 0 ? 0 : 1)
  if (a.length !== expected) { throw malformed(`primary block has ${a.length} fields, expected ${expected}`) }
  const ts = arrayField(a[6], 'creation timestamp', 2, 2)
  const primary: PrimaryBlock = {
    version: 7,
    flags,
    crcType,
    destination: decodeEid(a[3], 'destination'),
    source: decodeEid(a[4], 'source'),
    reportTo: decodeEid(a[5], 'report-to'),
    creationTime: uintField(ts[0], 'creation time'),
    sequence: uintField(ts[1], 'sequence number'),
    lifetimeMs: uintField(a[7], 'lifetime')
  }
  if (isFragment) { primary.fragment = { offset: uintField(a[8], 'fragment offset'), totalAduLength: uintField(a[9], 'total ADU length') } }
  checkCrc(crcType, raw, a[expected - 1])
  return primary
}

function decodeCanonical (raw: Uint8Array): CanonicalBlock {
  const a = arrayField(decodeItem(raw), 'canonical block', 5, 6)
  const crcType = crcTypeField(a[3])
  if (a.length !== (crcType === 0 ? 5 : 6)) { throw malformed('canonical block length does not match its CRC type') }
  const block = {
    type: uintField(a[0], 'block type'),
    number: uintField(a[1], 'block number'),
    flags: uintField(a[2], 'block flags'),
    crcType,
    data: bytesField(a[4], 'block data')
  }
  checkCrc(crcType, raw, a[5])
  return block
}

/**
 * Decodes a BPv7 bundle. Structure is checked before any block is decoded (bounded walk), then
 * each block, its CRC, and the rules of RFC 9171 §4.1: at least one canonical block, unique
 * block numbers above 0, exactly one payload block (number 1), and it comes last.
 */
export function decodeBundle (bytes: Uint8Array, limits: DecodeLimits = {}): DecodedBundle {
  const maxBlocks = limits.maxBlocks ?? DEFAULT_MAX_BLOCKS
  const ranges = splitIndefiniteArray(bytes, WALK, maxBlocks + 1)
  if (ranges.length < 2) { throw malformed('a bundle needs a primary block and a payload block') }
  const rawPrimary = bytes.subarray(ranges[0][0], ranges[0][1])
  const primary = decodePrimary(rawPrimary)
  const rawBlocks: Uint8Array[] = []
  const blocks: CanonicalBlock[] = []
  const numbers = new Set<number>()
  for (let i = 1; i < ranges.length; i++) {
    const raw = bytes.subarray(ranges[i][0], ranges[i][1])
    const block = decodeCanonical(raw)
    if (block.number === 0 || numbers.has(block.number)) { throw malformed('block numbers must be unique and above 0') }
    numbers.add(block.number)
    const isPayload = block.type === BLOCK_TYPE.PAYLOAD
    if (isPayload !== (i === ranges.length - 1)) { throw malformed('the payload block must be the last block, and only it') }
    if (isPayload && block.number !== 1) { throw malformed('the payload block must be block number 1') }
    rawBlocks.push(raw)
    blocks.push(block)
  }
  return { primary, blocks, rawPrimary, rawBlocks }
}

/** Encodes an array whose last element is a CRC placeholder, then fills the CRC in. */
function withCrc (type: CrcType, fields: unknown[]): Uint8Array {
  if (type === 0) { return encode(fields) }
  const out = encode([...fields, new Uint8Array(crcLength(type))])
  out.set(blockCrc(type, out), out.length - crcLength(type))
  return out
}

/** Encodes a primary block (RFC 9171 §4.3.1), CRC included. */
export function encodePrimary (p: PrimaryBlock): Uint8Array {
  const isFragment = (p.flags & BUNDLE_FLAG.IS_FRAGMENT) !== 0
  if (isFragment !== (p.fragment != null)) { throw new TypeError('fragment fields and IS_FRAGMENT flag disagree') }
  const fields: unknown[] = [
    7, p.flags, p.crcType, encodeEid(p.destination), encodeEid(p.source), encodeEid(p.reportTo),
    [p.creationTime, p.sequence], p.lifetimeMs
  ]
  if (p.fragment != null) { fields.push(p.fragment.offset, p.fragment.totalAduLength) }
  return withCrc(p.crcType, fields)
}

/** Encodes a canonical block (RFC 9171 §4.3.2), CRC included. */
export function encodeCanonical (b: CanonicalBlock): Uint8Array {
  return withCrc(b.crcType, [b.type, b.number, b.flags, b.crcType, b.data])
}

/** Joins encoded blocks into a bundle: 0x9f, primary, canonical blocks, 0xff. */
export function joinBlocks (rawPrimary: Uint8Array, rawBlocks: Uint8Array[]): Uint8Array {
  let size = 2 + rawPrimary.length
  for (const b of rawBlocks) { size += b.length }
  const out = new Uint8Array(size)
  out[0] = 0x9f
  out.set(rawPrimary, 1)
  let p = 1 + rawPrimary.length
  for (const b of rawBlocks) {
    out.set(b, p)
    p += b.length
  }
  out[p] = 0xff
  return out
}
