import { aduOfPart, partKey } from './bundle-keys.ts'
import { charge, decodeRecord } from './bundle-records.ts'
import { heldPart } from './bundle-writes.ts'
import type { OutboundMeta, Usage } from './bundle-records.ts'
import type { RecordWriter } from './bundle-writes.ts'
import type { MeshStore } from '../../store/mesh-store.ts'
import type { BundleId } from '../bundle-id.ts'

/**
 * Sublevels that held on-disk indexes of the records in older stores. Their content is derived
 * from the records, which the open rebuilds in memory, so a store written by an older version
 * opens with them cleared rather than carrying stale copies.
 */
const LEGACY_INDEXES = ['dtn-outbound', 'dtn-by-dest', 'dtn-expiry'] as const

/**
 * The open-time work of the bundle store: clears the legacy on-disk indexes and the stored usage
 * total, then rebuilds the in-memory index and share books from the records themselves and
 * returns the usage they add up to.
 */
export async function rebuildFromRecords (store: MeshStore, w: RecordWriter): Promise<Usage> {
  for (const name of LEGACY_INDEXES) { await store.sublevel(name).clear() }
  await w.state.del('usage')
  let bytes = 0
  let entries = 0
  for await (const [pk, v] of w.bundles.iterator()) {
    const m = decodeRecord<OutboundMeta>(v).meta
    const c = charge(v)
    const share = w.outboundEntry(m, c)
    w.index.addOutbound(pk, heldPart(m, c, share))
    w.books.commitAdd(pk, share)
    bytes += c
    entries++
  }
  for (const [kind, sub] of [['f', w.fragments], ['i', w.inbox]] as const) {
    for await (const [key, v] of sub.iterator()) {
      const c = charge(v)
      const m = decodeRecord<{ id: BundleId, expiresAt: number, receivedFrom?: string }>(v).meta
      const share = w.heldEntry(m, c)
      w.index.addHeld(kind, key, { expiresAt: m.expiresAt, charge: c, pk: kind === 'f' ? aduOfPart(key) : partKey(m.id, 0), share })
      w.books.commitAdd(undefined, share)
      bytes += c
      entries++
    }
  }
  return { bytes, entries }
}
