import { createHash } from 'node:crypto'
import { formatBundleId } from '../../dtn/bundle-id.ts'
import type { BundleStore, DeliveredMeta } from '../../dtn/store/bundle-store.ts'

/**
 * What `GET /v1/bundles` and `dadm-mesh bundle list` show (the bundles destined for this node,
 * and those it holds for forwarding: what an operator needs to see where a bundle waits), plus the reassemblies in progress. Times are
 * ISO 8601; no payloads (one bundle's payload is `GET /v1/bundles/{bundle_id}`).
 */

/** A bundle delivered to this node. */
export interface InboxRow {
  bundle_id: string
  source: string
  /** This node's node_id, or `broadcast`. */
  destination: string
  created_at: string
  expires_at: string
  delivered_at: string
  /** Payload bytes and their SHA-256 (hex), so a caller can check what arrived without fetching it. */
  size: number
  sha256: string
  /** The peer that handed it over (node_id), absent for our own bundles to ourselves. */
  received_from?: string
}

/** A bundle (or fragment) this node holds for forwarding: its own, or taken in custody. */
export interface HeldRow {
  bundle_id: string
  source: string
  destination: string
  /** Fragment offset and payload length of this part; `total_length` is the whole ADU's. */
  offset: number
  length: number
  total_length: number
  expires_at: string
  next_attempt_at: string
  attempts: number
  /** Spray-and-wait copies this node still holds. */
  copies: number
  hop_count: number
  /** node_ids known to hold it (custody acknowledged, or said duplicate). */
  sent_to: string[]
  received_from?: string
}

/** An ADU whose fragments are arriving here. */
export interface ReassemblyRow {
  bundle_id: string
  source: string
  fragments: number
  bytes_held: number
  total_length: number
  expires_at: string
}

export interface BundleListing {
  inbox: InboxRow[]
  held: HeldRow[]
  reassembling: ReassemblyRow[]
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** The listing at `now` (expired entries not yet swept are left out), at most `limit` per list. */
export async function listBundles (store: BundleStore, now: number, limit: number): Promise<BundleListing> {
  const inbox = (await store.listInbox(now, limit)).map(({ meta, payload }) => inboxRow(meta, payload))
  const held = (await store.listOutbound(limit)).filter(m => m.expiresAt > now).map((m): HeldRow => ({
    bundle_id: formatBundleId(m.id),
    source: m.id.source,
    destination: m.broadcast ? 'broadcast' : m.destination,
    offset: m.offset,
    length: m.length,
    total_length: m.aduLength,
    expires_at: iso(m.expiresAt),
    next_attempt_at: iso(m.nextAttemptAt),
    attempts: m.attempts,
    copies: m.copies,
    hop_count: m.hopCount,
    sent_to: m.sentTo,
    ...(m.receivedFrom != null ? { received_from: m.receivedFrom } : {})
  }))
  const reassembling = (await store.listReassembly(limit)).filter(r => r.meta.expiresAt > now).map((r): ReassemblyRow => ({
    bundle_id: formatBundleId(r.meta.id),
    source: r.meta.id.source,
    fragments: r.fragments,
    bytes_held: r.bytesHeld,
    total_length: r.meta.totalLength,
    expires_at: iso(r.meta.expiresAt)
  }))
  return { inbox, held, reassembling }
}

/** The row of one delivered bundle. */
export function inboxRow (meta: DeliveredMeta, payload: Uint8Array): InboxRow {
  return {
    bundle_id: formatBundleId(meta.id),
    source: meta.id.source,
    destination: meta.destination,
    created_at: iso(meta.createdAt),
    expires_at: iso(meta.expiresAt),
    delivered_at: iso(meta.deliveredAt),
    size: payload.length,
    sha256: createHash('sha256').update(payload).digest('hex'),
    ...(meta.receivedFrom != null ? { received_from: meta.receivedFrom } : {})
  }
}
