import { MeshError } from '../../errors.ts'
import type { ShareFractions } from './bundle-shares.ts'
import type { PeerIdentity } from '../../pki/peer-verifier.ts'
import type { BundleId } from '../bundle-id.ts'

/** What the bundle store holds (bundle-store.ts): record types, their encoding, its errors. */

export type BundleStoreErrorCode =
  /** The store, or the part of it forward-only copies may use, is full: nothing that could give way. */
  | 'QUOTA_EXCEEDED'
  /** The bundle's source node_id holds its whole share of the quota (bundle-shares.ts). */
  | 'SOURCE_SHARE_EXCEEDED'
  /** The neighbour that handed it over holds its whole share of the quota. */
  | 'NEIGHBOUR_SHARE_EXCEEDED'
  | 'NOT_FOUND'
  | 'CLOSED'

/** Store refusals a sender may retry later (space frees as bundles leave): ACK codes, not faults. */
export const STORE_REFUSAL_CODES: readonly BundleStoreErrorCode[] = ['QUOTA_EXCEEDED', 'SOURCE_SHARE_EXCEEDED', 'NEIGHBOUR_SHARE_EXCEEDED', 'CLOSED']

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
  /**
   * This node's node_id: outbound records it is the source of are its own (no source share,
   * never evicted). Without it every outbound record counts as a forward-only copy.
   */
  self?: string
  /** How the quota is split (bundle-shares.ts). @default BUNDLE_STORE_DEFAULTS */
  shares?: Partial<ShareFractions>
  /**
   * Size of the in-memory filter of seen ids, as log2 of its bits (bundle-seen.ts).
   *
   * @default 23 (1 MiB)
   */
  seenFilterBitsLog2?: number
}

export interface Usage { bytes: number, entries: number }

/** Fixed charge per stored entry, for its metadata and index keys (about what they take on disk). */
export const ENTRY_OVERHEAD_BYTES = 512

export { decodeRecord, encodeRecord } from './bundle-codec.ts'
export type { RecordKind } from './bundle-codec.ts'

/** Size charged for one stored value. */
export function charge (value: Uint8Array): number {
  return value.length + ENTRY_OVERHEAD_BYTES
}
