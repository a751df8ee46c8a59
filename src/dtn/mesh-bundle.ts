import { createHash } from 'node:crypto'
import { encode } from 'cborg'
import { decodeAsb, encodeAsb, findItem } from './bpsec.ts'
import { BLOCK_TYPE, BUNDLE_FLAG, decodeBundle, encodeCanonical, joinBlocks } from './bpv7.ts'
import { arrayField, bytesField, decodeItem, uintField } from './cbor-items.ts'
import {
  DTN_EPOCH_MS, MAX_ADU_BYTES, MAX_CERT_BYTES, MAX_CHAIN_LENGTH, MAX_HOP_LIMIT, MAX_SIGNATURE_BYTES, MAX_TTL_SEC, MIN_TTL_SEC
} from './constants.ts'
import { eidDestination, eidNodeId, eidToString } from './eid.ts'
import { BundleError } from './errors.ts'
import type { AbstractSecurityBlock } from './bpsec.ts'
import type { DecodedBundle } from './bpv7.ts'
import type { BundleId } from './bundle-id.ts'
import type { Destination, Eid } from './eid.ts'

/**
 * The mesh's profile of BPv7 (RFC 9171: a published wire format, which CBOR and BPv7 tools can
 * read, rather than one of our own). A mesh bundle is
 *
 * - primary block: version 7, CRC-32C, flags MUST_NOT_FRAGMENT (+ IS_FRAGMENT), dest/src
 * `dtn://<node_id>/` (or the broadcast EID), report-to dtn:none, creation timestamp
 * [DTN ms, sequence], lifetime = ttl_sec * 1000, fragment offset + total ADU length when a fragment
 * - hop count block, type 10, number 2: [hop limit, hop count] (RFC 9171 §4.4.3), the one part
 * relays change, so the signature leaves it out (the limit is signed)
 * - BIB, type 11, number 3: a BPSec abstract security block (RFC 9172) in the mesh signature
 * context below, targeting the payload block
 * - payload block, type 1, number 1: the ADU, or this fragment's slice of it
 *
 * Any other block, an admin record, or a missing CRC is refused. Fragmentation happens only at
 * the source (MUST_NOT_FRAGMENT tells relays so), and the source signs each fragment: every relay
 * can check every fragment on its own, and a forged or overlapping fragment never enters a store.
 */

/**
 * Our BPSec security context id. IANA assigns positive ids (1 and 2 are RFC 9173's); a negative
 * one keeps us clear of them. A signature context is not in RFC 9173, hence our own.
 */
export const MESH_SIGNATURE_CONTEXT = -1
/** Context parameters: 1 = signer certificate chain (leaf first, DER), 2 = SHA-256 of the whole ADU. */
export const PARAM_CHAIN = 1
export const PARAM_ADU_DIGEST = 2
/** Context result 1 = the signature over `signedInput`. */
export const RESULT_SIGNATURE = 1
/** Domain-separation label at the head of every signed input. */
export const SIGNATURE_LABEL = 'dadm-mesh/bundle-sig/1'

export const HOP_BLOCK_NUMBER = 2
export const BIB_BLOCK_NUMBER = 3
export const PAYLOAD_BLOCK_NUMBER = 1

/** The mesh's bundle model, aligned with the BPv7 primary block. */
export interface BundleFields {
  id: BundleId
  destination: Destination
  /** Unix ms; the primary block carries it as DTN time. */
  createdAt: number
  ttlSec: number
  /** createdAt + ttlSec * 1000. */
  expiresAt: number
  hopLimit: number
  hopCount: number
  /** Where this bundle sits in its ADU, when it is a fragment. */
  fragment?: { offset: number, totalLength: number }
  /** Length of the whole ADU (= payload length when not a fragment). */
  aduLength: number
  /** SHA-256 of the whole ADU, signed by the source. */
  aduDigest: Uint8Array
}

/** A mesh bundle as read from the wire: structure checked, signature not yet. */
export interface ParsedBundle extends BundleFields {
  /** This bundle's payload block data (a fragment's slice, or the whole ADU). */
  payload: Uint8Array
  /** The signer's chain, leaf first. */
  chain: Uint8Array[]
  signature: Uint8Array
  /** The bytes the source signed. */
  signedInput: Uint8Array
  /** The wire bytes, and their decoded blocks (to re-encode the hop count when forwarding). */
  bytes: Uint8Array
  decoded: DecodedBundle
}

export interface ParseLimits {
  /** Largest ADU accepted. @default MAX_ADU_BYTES */
  maxAduBytes?: number
}

export function sha256 (data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

/**
 * The bytes the source signs: CBOR [label, primary block as encoded, payload block header,
 * BIB header, hop limit, ADU SHA-256, this payload's SHA-256]. This is RFC 9173's IPPT with
 * every scope flag set, except that the payload enters by its digest (a hardware signer gets a
 * short message) and the hop limit and ADU digest are added. The primary block covers
 * destination, source, creation time, sequence, lifetime and fragment fields.
 */
export function buildSignedInput (rawPrimary: Uint8Array, payloadFlags: number, bibFlags: number, hopLimit: number, aduDigest: Uint8Array, payload: Uint8Array): Uint8Array {
  return encode([
    SIGNATURE_LABEL, rawPrimary,
    [BLOCK_TYPE.PAYLOAD, PAYLOAD_BLOCK_NUMBER, payloadFlags],
    [BLOCK_TYPE.BIB, BIB_BLOCK_NUMBER, bibFlags],
    hopLimit, aduDigest, sha256(payload)
  ])
}

/** The BIB's ASB in the mesh context. */
export function meshAsb (source: Eid, chain: Uint8Array[], aduDigest: Uint8Array, signature: Uint8Array): AbstractSecurityBlock {
  return {
    targets: [PAYLOAD_BLOCK_NUMBER],
    contextId: MESH_SIGNATURE_CONTEXT,
    source,
    params: [[PARAM_CHAIN, chain], [PARAM_ADU_DIGEST, aduDigest]],
    results: [[[RESULT_SIGNATURE, signature]]]
  }
}

function fields (msg: string): BundleError {
  return new BundleError('INVALID_FIELDS', msg)
}

/** Reads the hop count block: [limit, count]. A count beyond any safe integer is over the limit. */
function readHops (data: Uint8Array): { hopLimit: number, hopCount: number } {
  const a = arrayField(decodeItem(data), 'hop count block', 2, 2)
  const hopLimit = uintField(a[0], 'hop limit')
  if (hopLimit < 1 || hopLimit > MAX_HOP_LIMIT) { throw fields(`hop limit ${hopLimit} is outside 1-${MAX_HOP_LIMIT}`) }
  if (typeof a[1] === 'bigint' && a[1] > 0n) { throw new BundleError('HOP_LIMIT_EXCEEDED', 'hop count exceeds the hop limit') }
  const hopCount = uintField(a[1], 'hop count')
  // [REJECT] hop count over the limit: the bundle has travelled further than its source allowed
  if (hopCount > hopLimit) { throw new BundleError('HOP_LIMIT_EXCEEDED', `hop count ${hopCount} exceeds the limit ${hopLimit}`) }
  return { hopLimit, hopCount }
}

/**
 * Parses a mesh bundle: BPv7 structure and CRCs, the mesh profile, field bounds, fragment range,
 * hop count, and (for a whole bundle) the payload digest. No clock, no crypto beyond SHA-256.
 */
export function parseBundle (bytes: Uint8Array, limits: ParseLimits = {}): ParsedBundle {
  const maxAdu = limits.maxAduBytes ?? MAX_ADU_BYTES
  const decoded = decodeBundle(bytes, { maxBlocks: 3 })
  const p = decoded.primary
  if (p.crcType === 0) { throw new BundleError('MALFORMED_BUNDLE', 'the primary block must carry a CRC') }
  if ((p.flags & BUNDLE_FLAG.ADMIN_RECORD) !== 0) { throw new BundleError('MALFORMED_BUNDLE', 'administrative records are not used in the mesh') }
  const source = eidNodeId(p.source, 'source')
  const destination = eidDestination(p.destination)
  if (p.creationTime === 0) { throw fields('creation time 0 (no clock) cannot expire reliably') }
  if (p.lifetimeMs % 1000 !== 0) { throw fields('lifetime is not whole seconds') }
  const ttlSec = p.lifetimeMs / 1000
  if (ttlSec < MIN_TTL_SEC || ttlSec > MAX_TTL_SEC) { throw fields(`ttl ${ttlSec} s is outside ${MIN_TTL_SEC}-${MAX_TTL_SEC}`) }
  const createdAt = p.creationTime + DTN_EPOCH_MS
  if (!Number.isSafeInteger(createdAt + p.lifetimeMs)) { throw new BundleError('LENGTH_OUT_OF_RANGE', 'creation time is out of range') }

  const byType = new Map(decoded.blocks.map((b, i) => [b.type, i]))
  if (decoded.blocks.length !== 3 || !byType.has(BLOCK_TYPE.HOP_COUNT) || !byType.has(BLOCK_TYPE.BIB)) {
    throw new BundleError('MALFORMED_BUNDLE', 'a mesh bundle holds exactly a hop count block, a BIB and a payload block')
  }
  const hopBlock = decoded.blocks[byType.get(BLOCK_TYPE.HOP_COUNT) as number]
  const bib = decoded.blocks[byType.get(BLOCK_TYPE.BIB) as number]
  const payloadBlock = decoded.blocks[decoded.blocks.length - 1]
  if (hopBlock.number !== HOP_BLOCK_NUMBER || bib.number !== BIB_BLOCK_NUMBER) {
    throw new BundleError('MALFORMED_BUNDLE', 'mesh block numbers are fixed: payload 1, hop count 2, BIB 3')
  }
  const payload = payloadBlock.data

  // ADU length and fragment range, before anything is allocated for them
  let aduLength = payload.length
  let fragment: BundleFields['fragment']
  if (p.fragment != null) {
    const { offset, totalAduLength } = p.fragment
    if (totalAduLength > maxAdu) { throw new BundleError('LENGTH_OUT_OF_RANGE', `total ADU length ${totalAduLength} exceeds ${maxAdu}`) }
    // [REJECT] a fragment outside its ADU, or empty
    if (payload.length === 0 || offset >= totalAduLength || payload.length > totalAduLength - offset) {
      throw new BundleError('FRAGMENT_OUT_OF_RANGE', `fragment [${offset}, +${payload.length}) is outside the ADU of ${totalAduLength} bytes`)
    }
    aduLength = totalAduLength
    fragment = { offset, totalLength: totalAduLength }
  } else if (payload.length > maxAdu) {
    throw new BundleError('LENGTH_OUT_OF_RANGE', `payload of ${payload.length} bytes exceeds ${maxAdu}`)
  }

  const { hopLimit, hopCount } = readHops(hopBlock.data)

  const asb = decodeAsb(bib.data)
  if (asb.contextId !== MESH_SIGNATURE_CONTEXT) { throw new BundleError('MISSING_SIGNATURE', 'the BIB is not in the mesh signature context') }
  if (asb.targets.length !== 1 || asb.targets[0] !== PAYLOAD_BLOCK_NUMBER) { throw new BundleError('MALFORMED_BUNDLE', 'the mesh BIB targets the payload block only') }
  if (eidToString(asb.source) !== eidToString(p.source)) { throw new BundleError('SOURCE_MISMATCH', 'security source is not the bundle source') }
  const chain = arrayField(findItem(asb.params, PARAM_CHAIN), 'signer chain', 1, MAX_CHAIN_LENGTH)
    .map(c => bytesField(c, 'certificate', 1, MAX_CERT_BYTES))
  const aduDigest = bytesField(findItem(asb.params, PARAM_ADU_DIGEST), 'ADU digest', 32, 32)
  const signature = bytesField(findItem(asb.results[0], RESULT_SIGNATURE), 'signature', 1, MAX_SIGNATURE_BYTES)

  // [REJECT] a whole bundle whose payload is not what the source signed a digest of
  if (fragment == null && !bytesEqual(sha256(payload), aduDigest)) { throw new BundleError('DIGEST_MISMATCH', 'payload does not match the signed ADU digest') }

  return {
    id: { source, createdAt, sequence: p.sequence },
    destination,
    createdAt,
    ttlSec,
    expiresAt: createdAt + p.lifetimeMs,
    hopLimit,
    hopCount,
    ...(fragment == null ? {} : { fragment }),
    aduLength,
    aduDigest,
    payload,
    chain,
    signature,
    signedInput: buildSignedInput(decoded.rawPrimary, payloadBlock.flags, bib.flags, hopLimit, aduDigest, payload),
    bytes,
    decoded
  }
}

/**
 * A stored bundle's bytes with the hop count set to `hopCount` (what a node sends on: every
 * hand-over counts one hop); every other block is kept byte for byte, so the signature holds.
 */
export function setHopCount (bytes: Uint8Array, hopCount: number): Uint8Array {
  const decoded = decodeBundle(bytes, { maxBlocks: 3 })
  const i = decoded.blocks.findIndex(b => b.type === BLOCK_TYPE.HOP_COUNT)
  if (i < 0) { throw new BundleError('MALFORMED_BUNDLE', 'no hop count block') }
  const { hopLimit } = readHops(decoded.blocks[i].data)
  if (!Number.isSafeInteger(hopCount) || hopCount < 0 || hopCount > hopLimit) {
    throw new BundleError('HOP_LIMIT_EXCEEDED', 'forwarding would exceed the hop limit')
  }
  const raw = decoded.rawBlocks.slice()
  raw[i] = encodeCanonical({ ...decoded.blocks[i], data: encode([hopLimit, hopCount]) })
  return joinBlocks(decoded.rawPrimary, raw)
}

/** Encodes the mesh BIB as a canonical block. */
export function encodeMeshBib (asb: AbstractSecurityBlock): Uint8Array {
  return encodeCanonical({ type: BLOCK_TYPE.BIB, number: BIB_BLOCK_NUMBER, flags: 0, crcType: 0, data: encodeAsb(asb) })
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) { return false }
  for (let i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false } }
  return true
}
