import { BUNDLE_STORE_DEFAULTS } from '../constants.ts'
import { BundleIndex } from './bundle-index.ts'
import { aduKey, destKey, fragmentKey, partKey } from './bundle-keys.ts'
import { charge, encodeRecord } from './bundle-records.ts'
import { SeenIds } from './bundle-seen.ts'
import { ShareBooks, shareEntry, shareLimits } from './bundle-shares.ts'
import type { HeldPart } from './bundle-index.ts'
import type { AcceptItem, BundleStoreOptions, OutboundMeta } from './bundle-records.ts'
import type { ShareEntry } from './bundle-shares.ts'
import type { Tx } from './group-commit.ts'
import type { MeshStore, Sublevel } from '../../store/mesh-store.ts'
import type { BundleId } from '../bundle-id.ts'

/**
 * The bundle store's sublevels and in-memory books, and the record-level steps every change of
 * the store is made of, each into one group transaction: write a new part, delete an outbound or
 * held record (optionally leaving its seen id), write or delete a seen id. The disk side goes into the group's batch; the index and the
 * share books change only in `onCommit`, so memory never runs ahead of what is durable.
 */
export class RecordWriter {
  /** This node's node_id, when given: its own outbound records. */
  readonly self: string | undefined
  readonly index = new BundleIndex()
  readonly books: ShareBooks
  readonly seenIds: SeenIds
  readonly bundles: Sublevel<Uint8Array>
  readonly seen: Sublevel<number>
  readonly fragments: Sublevel<Uint8Array>
  readonly inbox: Sublevel<Uint8Array>
  readonly state: Sublevel<any>

  constructor (store: MeshStore, options: BundleStoreOptions) {
    this.self = options.self
    this.books = new ShareBooks(shareLimits(options.quotaBytes, {
      localReserve: options.shares?.localReserve ?? BUNDLE_STORE_DEFAULTS.localReserve,
      perSource: options.shares?.perSource ?? BUNDLE_STORE_DEFAULTS.perSource,
      perNeighbour: options.shares?.perNeighbour ?? BUNDLE_STORE_DEFAULTS.perNeighbour
    }), (pk) => this.index.outbound.get(pk)?.share)
    this.bundles = store.sublevel('dtn-bundles')
    this.seen = store.sublevel('dtn-seen')
    this.fragments = store.sublevel('dtn-fragments')
    this.inbox = store.sublevel('dtn-inbox')
    this.state = store.sublevel('dtn-state')
    this.seenIds = new SeenIds(this.seen, this.index, options.seenFilterBitsLog2)
  }

  /** The share entry of a fragment or inbox record (addressed to this node; this node's own count for no source). */
  heldEntry (m: { id: BundleId, expiresAt: number, receivedFrom?: string }, c: number): ShareEntry {
    const own = this.self != null && m.id.source === this.self
    return shareEntry({ source: m.id.source, from: m.receivedFrom, outbound: false, own, expiresAt: m.expiresAt, charge: c })
  }

  outboundEntry (m: OutboundMeta, c: number): ShareEntry {
    const own = this.self != null && m.id.source === this.self
    return shareEntry({ source: m.id.source, from: m.receivedFrom, outbound: true, own, expiresAt: m.expiresAt, charge: c })
  }

  /** Writes one new part's record into the group; returns its share entry (its charge included). */
  keep (tx: Tx, item: AcceptItem, pk: string, fragments?: Map<string, string[]>): ShareEntry {
    if (item.type === 'outbound') {
      const m = item.meta
      const value = encodeRecord('outbound', m, item.bytes)
      const c = charge(value)
      const entry = this.outboundEntry(m, c)
      tx.put(this.bundles, pk, value)
      tx.onCommit(() => {
        // a part is never accepted twice while held (deduplication); were it, its books move with it
        const replaced = this.index.outbound.get(pk)
        if (replaced != null) { this.books.commitRemove(replaced.share) }
        this.index.addOutbound(pk, heldPart(m, c, entry))
        this.books.commitAdd(pk, entry)
      })
      return entry
    }
    if (item.type === 'fragment') {
      const value = encodeRecord('fragment', item.meta, item.payload)
      const c = charge(value)
      const fk = fragmentKey(pk, item.meta.length)
      const expiresAt = item.meta.expiresAt
      const entry = this.heldEntry(item.meta, c)
      tx.put(this.fragments, fk, value)
      tx.onCommit(() => {
        this.index.addHeld('f', fk, { expiresAt, charge: c, pk, share: entry })
        this.books.commitAdd(undefined, entry)
      })
      return entry
    }
    const ak = aduKey(item.meta.id)
    const value = encodeRecord('delivered', item.meta, item.payload)
    const c = charge(value)
    const expiresAt = item.meta.expiresAt
    const wholePk = partKey(item.meta.id, 0)
    const entry = this.heldEntry(item.meta, c)
    tx.put(this.inbox, ak, value)
    tx.onCommit(() => {
      this.index.addHeld('i', ak, { expiresAt, charge: c, pk: wholePk, share: entry })
      this.books.commitAdd(undefined, entry)
    })
    // the fragments it was made of leave in the same batch, each leaving its seen id, as does
    // the fragment that completed it
    if (item.offset != null) {
      for (const key of fragments?.get(ak) ?? []) { this.deleteHeld(tx, 'f', key, expiresAt) }
      this.putSeen(tx, pk, expiresAt)
    }
    return entry
  }

  /**
   * Deletes an outbound record once per group, crediting its size back (no read: the index has
   * it); with `keepSeen`, its seen id takes over in the same batch. True when it deleted.
   */
  removeOutbound (tx: Tx, pk: string, keepSeen: boolean): boolean {
    const part = this.index.outbound.get(pk)
    if (part == null || tx.gone(`b:${pk}`)) { return false }
    tx.markDeleted(`b:${pk}`)
    tx.del(this.bundles, pk)
    if (keepSeen) { this.putSeen(tx, pk, part.expiresAt) }
    tx.charge(-part.charge, -1)
    this.books.pend(tx, part.share, -1)
    tx.onCommit(() => {
      const gone = this.index.removeOutbound(pk)
      if (gone != null) { this.books.commitRemove(gone.share) }
    })
    return true
  }

  /** Deletes a fragment or inbox entry once per group, crediting its size back; with `seenUntil`, its seen id takes over. True when it deleted. */
  deleteHeld (tx: Tx, kind: 'f' | 'i', key: string, seenUntil?: number): boolean {
    const held = this.index.held.get(`${kind}:${key}`)
    if (held == null || tx.gone(`${kind}:${key}`)) { return false }
    tx.markDeleted(`${kind}:${key}`)
    tx.del(kind === 'f' ? this.fragments : this.inbox, key)
    if (seenUntil != null) { this.putSeen(tx, held.pk, seenUntil) }
    tx.charge(-held.charge, -1)
    this.books.pend(tx, held.share, -1)
    tx.onCommit(() => {
      const gone = this.index.removeHeld(kind, key)
      if (gone != null) { this.books.commitRemove(gone.share) }
    })
    return true
  }

  putSeen (tx: Tx, pk: string, expiresAt: number): void {
    if (tx.wrote(`s:${pk}`)) { return }
    tx.markWritten(`s:${pk}`)
    tx.markWritten(pk)
    tx.put(this.seen, pk, expiresAt)
    this.seenIds.decided(pk)
    tx.onCommit(() => { this.seenIds.committed(pk) })
  }

  deleteSeen (tx: Tx, pk: string): void {
    if (tx.gone(`s:${pk}`)) { return }
    tx.markDeleted(`s:${pk}`)
    tx.del(this.seen, pk)
  }
}

/** The index entry of an outbound record. */
export function heldPart (m: OutboundMeta, c: number, share: ShareEntry): HeldPart {
  return { nextAttemptAt: m.nextAttemptAt, attempts: m.attempts, expiresAt: m.expiresAt, dest: destKey(m.destination, m.broadcast), copies: m.copies, charge: c, share }
}
