import { aduKey, aduOfPart, under } from './bundle-keys.ts'
import { decodeRecord } from './bundle-records.ts'
import type { BundleIndex } from './bundle-index.ts'
import type { DeliveredMeta, FragmentMeta, OutboundMeta } from './bundle-records.ts'
import type { Sublevel } from '../../store/mesh-store.ts'
import type { BundleId } from '../bundle-id.ts'

/** Read-only queries over the bundle store's record sublevels (bundle-store.ts delegates to these). */

/**
 * Byte ranges of the fragments held for the ADU `id`, in offset order, and the metadata of one
 * of them (they agree on total length and digest: each was checked against the others). Reads
 * keys and one value only, so admitting the n-th fragment costs no payload reads.
 */
export async function fragmentRanges (fragments: Sublevel<Uint8Array>, id: BundleId): Promise<{ ranges: Array<{ offset: number, length: number }>, sample?: FragmentMeta }> {
  const ranges: Array<{ offset: number, length: number }> = []
  let first: string | undefined
  for await (const key of fragments.keys(under(aduKey(id)))) {
    const parts = key.split('.')
    ranges.push({ offset: parseInt(parts[3], 16), length: parseInt(parts[4], 16) })
    first ??= key
  }
  if (first == null) { return { ranges } }
  const v = await fragments.get(first)
  return v == null ? { ranges } : { ranges, sample: decodeRecord<FragmentMeta>(v).meta }
}

/** Fragments held for the ADU `id`, payloads included, in offset order. */
export async function fragmentsOf (fragments: Sublevel<Uint8Array>, id: BundleId): Promise<Array<{ meta: FragmentMeta, payload: Uint8Array }>> {
  const out: Array<{ meta: FragmentMeta, payload: Uint8Array }> = []
  for await (const v of fragments.values(under(aduKey(id)))) {
    const r = decodeRecord<FragmentMeta>(v)
    out.push({ meta: r.meta, payload: r.data })
  }
  return out
}

/**
 * ADUs being reassembled here: for each, one fragment's metadata and the bytes and fragments
 * held so far (from the index and the keys: no payload reads beyond one sample per ADU).
 */
export async function listReassembly (fragments: Sublevel<Uint8Array>, limit: number): Promise<Array<{ meta: FragmentMeta, fragments: number, bytesHeld: number }>> {
  const byAdu = new Map<string, { first: string, fragments: number, bytesHeld: number }>()
  for await (const key of fragments.keys()) {
    const ak = aduOfPart(aduOfPart(key))
    const e = byAdu.get(ak)
    const length = parseInt(key.slice(key.lastIndexOf('.') + 1), 16)
    if (e != null) {
      e.fragments++
      e.bytesHeld += length
    } else {
      if (byAdu.size >= limit) { break }
      byAdu.set(ak, { first: key, fragments: 1, bytesHeld: length })
    }
  }
  const out: Array<{ meta: FragmentMeta, fragments: number, bytesHeld: number }> = []
  for (const e of byAdu.values()) {
    const v = await fragments.get(e.first)
    if (v != null) { out.push({ meta: decodeRecord<FragmentMeta>(v).meta, fragments: e.fragments, bytesHeld: e.bytesHeld }) }
  }
  return out
}

/** Bundles delivered to this node and not expired at `now`. */
export async function listInbox (inbox: Sublevel<Uint8Array>, now: number, limit: number): Promise<Array<{ meta: DeliveredMeta, payload: Uint8Array }>> {
  const out: Array<{ meta: DeliveredMeta, payload: Uint8Array }> = []
  for await (const v of inbox.values({ limit })) {
    const r = decodeRecord<DeliveredMeta>(v)
    // [IGNORE] expired but not yet swept: never handed out
    if (r.meta.expiresAt > now) { out.push({ meta: r.meta, payload: r.data }) }
  }
  return out
}

/** One delivered bundle, unless expired at `now`. */
export async function getDelivered (inbox: Sublevel<Uint8Array>, id: BundleId, now: number): Promise<{ meta: DeliveredMeta, payload: Uint8Array } | undefined> {
  const v = await inbox.get(aduKey(id))
  if (v == null) { return undefined }
  const r = decodeRecord<DeliveredMeta>(v)
  return r.meta.expiresAt > now ? { meta: r.meta, payload: r.data } : undefined
}

/** The record's meta with the retry schedule and copies as the in-memory index holds them now. */
export function overlay (index: BundleIndex, pk: string, meta: OutboundMeta): OutboundMeta {
  const part = index.outbound.get(pk)
  if (part != null) {
    meta.attempts = part.attempts
    meta.nextAttemptAt = part.nextAttemptAt
    meta.copies = part.copies
  }
  return meta
}

/** The outbound records of `pks` (index order kept; parts gone meanwhile are left out), overlaid. */
export async function outboundMetas (bundles: Sublevel<Uint8Array>, index: BundleIndex, pks: string[]): Promise<OutboundMeta[]> {
  if (pks.length === 0) { return [] }
  const values = await bundles.getMany(pks)
  const out: OutboundMeta[] = []
  values.forEach((v, i) => { if (v != null) { out.push(overlay(index, pks[i], decodeRecord<OutboundMeta>(v).meta)) } })
  return out
}
