import { MeshError } from '../errors.ts'
import type { BundleId } from '../dtn/bundle-id.ts'
import type { PeerIdentity } from '../node/peer-verifier.ts'

/** What the bundle store holds (bundle-store.ts): record types, their encoding, its errors. */

export type BundleStoreErrorCode = 'QUOTA_EXCEEDED' | 'NOT_FOUND' | 'CLOSED'

/** Raised by the bundle store. */
export class BundleStoreError extends MeshError<BundleStoreErrorCode> {
  static name = 'BundleStoreError'
}

/** A bundle or fragment held for forwarding (ours or a relayed one). */
export interface OutboundMeta {
  id: BundleId
  /** Fragment offset, 0 for a whole bundle; `length` is this part's payload length. */
  offset: number
  length: number
  fragmented: boolean
  aduLength: number
  destination: string
  broadcast: boolean
  createdAt: number
  expiresAt: number
  hopCount: number
  hopLimit: number
  /** Binary spray-and-wait logical copies this node holds (1 = deliver directly only). */
  copies: number
  attempts: number
  nextAttemptAt: number
  /** node_ids that hold it already (acked custody, or said duplicate): never offered again. */
  sentTo: string[]
  /** node_id of the previous hop, if any: it has it, so it is never offered back. */
  receivedFrom?: string
  acceptedAt: number
  /** The source's verified identity, so revocation predicates can run over the store. */
  signer: PeerIdentity
}

/** A fragment at its destination, waiting for its siblings. */
export interface FragmentMeta {
  id: BundleId
  offset: number
  length: number
  totalLength: number
  aduDigest: Uint8Array
  destination: string
  createdAt: number
  expiresAt: number
  receivedFrom?: string
  signer: PeerIdentity
}

/** A bundle delivered to this node (whole, or reassembled). */
export interface DeliveredMeta {
  id: BundleId
  destination: string
  createdAt: number
  expiresAt: number
  aduLength: number
  aduDigest: Uint8Array
  deliveredAt: number
  receivedFrom?: string
  signer: PeerIdentity
}

/** One thing to keep, as part of an atomic `accept`. */
export type AcceptItem =
  | { type: 'outbound', meta: OutboundMeta, bytes: Uint8Array }
  | { type: 'fragment', meta: FragmentMeta, payload: Uint8Array }
  | { type: 'delivered', meta: DeliveredMeta, payload: Uint8Array, /** the fragment's own offset when it completed an ADU */ offset?: number }

export type AcceptStatus = 'accepted' | 'duplicate'

export interface BundleStoreOptions {
  /** Most bytes held (bundle bytes, fragments, inbox payloads, plus a fixed per-entry charge). */
  quotaBytes: number
}

export interface Usage { bytes: number, entries: number }

/** Fixed charge per stored entry, for its metadata and index keys (about what they take on disk). */
export const ENTRY_OVERHEAD_BYTES = 512

/**
 * A stored record: [u32 BE length of the metadata][metadata JSON][payload or bundle bytes].
 * JSON (V8-native, no replacer) rather than cborg: encoding records was the largest cost of an
 * accept (bench/dtn.ts). The two byte fields a meta can hold, `signer.spki` and `aduDigest`,
 * travel as base64 text.
 */
export function encodeRecord (m: { signer: PeerIdentity, aduDigest?: Uint8Array }, data: Uint8Array): Uint8Array {
  // The signer is the same object for every bundle of a source (the verifier caches it), so its
  // JSON is made once; the rest is one flat stringify. Encoding records was the largest CPU cost
  // of an accept (bench/dtn.ts).
  const { signer, aduDigest, ...rest } = m
  let head = `{"signer":${signerJson(signer)}`
  if (aduDigest != null) { head += `,"aduDigest":"${b64(aduDigest)}"` }
  const tail = JSON.stringify(rest)
  const json = tail.length > 2 ? `${head},${tail.slice(1)}` : `${head}}`
  const n = Buffer.byteLength(json, 'utf8')
  const out = Buffer.allocUnsafe(4 + n + data.length)
  out.writeUInt32BE(n, 0)
  out.write(json, 4, n, 'utf8')
  out.set(data, 4 + n)
  return out
}

const signerJsonCache = new WeakMap<PeerIdentity, string>()

function signerJson (signer: PeerIdentity): string {
  let j = signerJsonCache.get(signer)
  if (j == null) {
    j = JSON.stringify({ ...signer, spki: b64(signer.spki) })
    signerJsonCache.set(signer, j)
  }
  return j
}

export function decodeRecord<M> (v: Uint8Array): { meta: M, data: Uint8Array } {
  const buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  const n = buf.readUInt32BE(0)
  const meta = JSON.parse(buf.toString('utf8', 4, 4 + n))
  meta.signer.spki = unb64(meta.signer.spki)
  if (typeof meta.aduDigest === 'string') { meta.aduDigest = unb64(meta.aduDigest) }
  return { meta: meta as M, data: buf.subarray(4 + n) }
}

function b64 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

function unb64 (s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'base64'))
}

/** Size charged for one stored value. */
export function charge (value: Uint8Array): number {
  return value.length + ENTRY_OVERHEAD_BYTES
}
