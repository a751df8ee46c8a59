import { encode } from 'cborg'
import { parseCertificate, nodeIdentity } from '../pki/certificate.ts'
import { BLOCK_TYPE, BUNDLE_FLAG, encodeCanonical, encodePrimary, joinBlocks } from './bpv7.ts'
import { MAX_CREATED_AT } from './bundle-id.ts'
import {
  DEFAULT_HOP_LIMIT, DEFAULT_MAX_FRAME_BYTES, DTN_EPOCH_MS, MAX_ADU_BYTES, MAX_CHAIN_LENGTH, MAX_FRAGMENTS, MAX_HOP_LIMIT,
  MAX_SIGNATURE_BYTES, MAX_TTL_SEC, MIN_MAX_FRAME_BYTES, MIN_TTL_SEC
} from './constants.ts'
import { BROADCAST, destinationEid, isMeshNodeId, nodeEid } from './eid.ts'
import { BundleError } from './errors.ts'
import { planFragments } from './fragment.ts'
import {
  buildSignedInput, bytesEqual, encodeMeshBib, HOP_BLOCK_NUMBER, meshAsb, PAYLOAD_BLOCK_NUMBER, sha256
} from './mesh-bundle.ts'
import type { PrimaryBlock } from './bpv7.ts'
import type { BundleId } from './bundle-id.ts'
import type { Destination } from './eid.ts'
import type { IdentitySigner } from '../pki/peer-verifier.ts'

/**
 * Creating (and signing) bundles at their source. A payload whose bundle would not fit one frame
 * is cut into fragments that each fit, headers included, and each fragment is signed.
 */

/** What the application asks to send (`POST /v1/bundles`: `{ destination, ttl_sec, payload }`). */
export interface SendRequest {
  destination: Destination
  ttlSec: number
  payload: Uint8Array
  /** @default DEFAULT_HOP_LIMIT */
  hopLimit?: number
}

export interface SourceContext {
  /** The node's mesh identity key (the same signer the auth protocol uses). */
  signer: IdentitySigner
  /** The node's certificate chain, leaf first; carried in every bundle so any node can verify it. */
  chain: Uint8Array[]
  /** Creation time, Unix ms, and the sequence number that makes the id unique. */
  createdAt: number
  sequence: number
  /** @default DEFAULT_MAX_FRAME_BYTES */
  maxFrameBytes?: number
}

/** A signed bundle (or fragment) ready for the store and the wire. */
export interface CreatedBundle {
  id: BundleId
  destination: Destination
  createdAt: number
  ttlSec: number
  expiresAt: number
  /** One entry for a whole bundle, several for fragments, in offset order. */
  parts: Array<{ bytes: Uint8Array, offset: number, length: number }>
  aduLength: number
  aduDigest: Uint8Array
  fragmented: boolean
}

/**
 * Bytes a `/dadm-mesh/bundle/1.0.0` frame adds around a bundle: the CBOR map, its keys, the copy
 * count and the byte string head. protocols/bundle's tests check its frames stay within this.
 */
export const FRAME_ENVELOPE_BYTES = 32

function invalid (msg: string): BundleError {
  return new BundleError('INVALID_REQUEST', msg)
}

/** Checks what the caller asks for (destination, lifetime, payload, hops); throws BundleError INVALID_REQUEST or INVALID_EID. */
export function checkSendRequest (req: SendRequest): void {
  const hopLimit = req.hopLimit ?? DEFAULT_HOP_LIMIT
  if (req.destination !== BROADCAST && !isMeshNodeId(req.destination)) { throw invalid('destination is neither a node_id nor broadcast') }
  if (!Number.isSafeInteger(req.ttlSec) || req.ttlSec < MIN_TTL_SEC || req.ttlSec > MAX_TTL_SEC) { throw invalid(`ttl must be ${MIN_TTL_SEC}-${MAX_TTL_SEC} s`) }
  if (!(req.payload instanceof Uint8Array) || req.payload.length > MAX_ADU_BYTES) { throw invalid(`payload must be bytes, at most ${MAX_ADU_BYTES}`) }
  if (!Number.isInteger(hopLimit) || hopLimit < 1 || hopLimit > MAX_HOP_LIMIT) { throw invalid(`hop limit must be 1-${MAX_HOP_LIMIT}`) }
}

/**
 * Builds and signs the bundle(s) for `req`. The TTL is clamped so that the bundle expires no later
 * than the signing certificate: receivers check the chain at arrival, so a bundle cannot outlive
 * the certificate that vouches for it, and `expiresAt` says so honestly.
 */
export async function createBundle (req: SendRequest, ctx: SourceContext): Promise<CreatedBundle> {
  const maxFrame = ctx.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const hopLimit = req.hopLimit ?? DEFAULT_HOP_LIMIT
  checkSendRequest(req)
  if (!Number.isSafeInteger(maxFrame) || maxFrame < MIN_MAX_FRAME_BYTES) { throw invalid(`frame limit must be at least ${MIN_MAX_FRAME_BYTES}`) }
  if (!Number.isSafeInteger(ctx.createdAt) || ctx.createdAt <= DTN_EPOCH_MS || ctx.createdAt > MAX_CREATED_AT) { throw invalid('creation time out of range') }
  if (!Number.isSafeInteger(ctx.sequence) || ctx.sequence < 0) { throw invalid('sequence out of range') }
  if (ctx.chain.length === 0 || ctx.chain.length > MAX_CHAIN_LENGTH) { throw invalid('signer chain must hold 1-4 certificates') }

  const leaf = parseCertificate(ctx.chain[0])
  if (!bytesEqual(leaf.spki, ctx.signer.spki)) { throw new BundleError('SIGNER_FAILED', 'the signer key is not the leaf certificate key') }
  const source = nodeIdentity(leaf).nodeId
  const expiresAt = Math.min(ctx.createdAt + req.ttlSec * 1000, leaf.notAfter)
  const ttlSec = Math.floor((expiresAt - ctx.createdAt) / 1000)
  if (ttlSec < MIN_TTL_SEC) { throw invalid('the signing certificate expires before the bundle could live one second') }

  const srcEid = nodeEid(source)
  const aduDigest = sha256(req.payload)
  const base: PrimaryBlock = {
    version: 7,
    flags: BUNDLE_FLAG.MUST_NOT_FRAGMENT,
    crcType: 2,
    destination: destinationEid(req.destination),
    source: srcEid,
    reportTo: { scheme: 'dtn', none: true },
    creationTime: ctx.createdAt - DTN_EPOCH_MS,
    sequence: ctx.sequence,
    lifetimeMs: ttlSec * 1000
  }
  const hopBlock = encodeCanonical({ type: BLOCK_TYPE.HOP_COUNT, number: HOP_BLOCK_NUMBER, flags: 0, crcType: 0, data: encode([hopLimit, 0]) })

  // Header bytes of the largest fragment we could make: fragment fields at their widest, the
  // longest signature, a 3-byte hop count (relays raise it) and a 9-byte payload string head.
  const worstPrimary = encodePrimary({ ...base, flags: base.flags | BUNDLE_FLAG.IS_FRAGMENT, fragment: { offset: MAX_ADU_BYTES, totalAduLength: MAX_ADU_BYTES } })
  const worstBib = encodeMeshBib(meshAsb(srcEid, ctx.chain, aduDigest, new Uint8Array(MAX_SIGNATURE_BYTES)))
  const overhead = 2 + worstPrimary.length + hopBlock.length + 4 + worstBib.length + 6 + 9 + FRAME_ENVELOPE_BYTES
  const maxPiece = maxFrame - overhead
  if (maxPiece < 1024) { throw invalid('the frame limit leaves no room for data beside this chain') }

  const whole = req.payload.length <= maxPiece
  const plan = whole ? [{ offset: 0, length: req.payload.length }] : planFragments(req.payload.length, maxPiece)
  if (plan.length > MAX_FRAGMENTS) { throw invalid('payload needs too many fragments at this frame limit') }

  const parts: CreatedBundle['parts'] = []
  for (const { offset, length } of plan) {
    const piece = req.payload.subarray(offset, offset + length)
    const primary: PrimaryBlock = whole
      ? base
      : { ...base, flags: base.flags | BUNDLE_FLAG.IS_FRAGMENT, fragment: { offset, totalAduLength: req.payload.length } }
    const rawPrimary = encodePrimary(primary)
    let signature: Uint8Array
    try {
      signature = await ctx.signer.sign(buildSignedInput(rawPrimary, 0, 0, hopLimit, aduDigest, piece))
    } catch (err: any) {
      throw new BundleError('SIGNER_FAILED', 'the identity signer failed', { cause: err })
    }
    const bib = encodeMeshBib(meshAsb(srcEid, ctx.chain, aduDigest, signature))
    const payloadBlock = encodeCanonical({ type: BLOCK_TYPE.PAYLOAD, number: PAYLOAD_BLOCK_NUMBER, flags: 0, crcType: 0, data: piece })
    parts.push({ bytes: joinBlocks(rawPrimary, [hopBlock, bib, payloadBlock]), offset, length })
  }
  return {
    id: { source, createdAt: ctx.createdAt, sequence: ctx.sequence },
    destination: req.destination,
    createdAt: ctx.createdAt,
    ttlSec,
    expiresAt: ctx.createdAt + ttlSec * 1000,
    parts,
    aduLength: req.payload.length,
    aduDigest,
    fragmented: !whole
  }
}
