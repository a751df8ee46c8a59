import { aduKey, under } from './bundle-keys.ts'
import { BundleStoreError } from './bundle-records.ts'
import type { AcceptItem, AcceptStatus } from './bundle-records.ts'
import type { ShareEntry } from './bundle-shares.ts'
import type { RecordWriter } from './bundle-writes.ts'
import type { Tx } from './group-commit.ts'

/** What each refusal of `makeRoom` says is full. */
const LIMIT_NAMES = { QUOTA_EXCEEDED: 'the store or its forward pool', SOURCE_SHARE_EXCEEDED: 'the source\'s share', NEIGHBOUR_SHARE_EXCEEDED: 'the neighbour\'s share' } as const

/** A small state value written in the same batch as an accept (the agent's last bundle id). */
export interface StateWrite { key: string, value: unknown }

/**
 * How an accept is decided inside its group: deduplication, the new records, and room made by
 * eviction or the change refused. Most accepts decide from memory alone (`now`); the rest read
 * what memory cannot tell first (`afterReads`) and then decide the same way.
 */
export class AcceptDecision {
  readonly #w: RecordWriter
  readonly #quotaBytes: number

  constructor (w: RecordWriter, quotaBytes: number) {
    this.#w = w
    this.#quotaBytes = quotaBytes
  }

  /**
   * Decides an accept from memory alone (the group, the index, the group's reads, the seen
   * filter), or from `read` and `fragments` when the slow path gathered them; undefined, having
   * changed nothing, when it cannot.
   */
  now (tx: Tx, items: AcceptItem[], pks: string[], state?: StateWrite, read?: Map<string, boolean>, fragments?: Map<string, string[]>): AcceptStatus[] | undefined {
    const w = this.#w
    // 1. which parts are new, against every change before this one. An outbound copy and a local
    // delivery of the same part may come together (a broadcast): both see the same answer.
    const statuses: AcceptStatus[] = []
    for (let i = 0; i < items.length; i++) {
      const seen = w.seenIds.now(tx, pks[i]) ?? read?.get(pks[i])
      if (seen === undefined) { return undefined }
      const item = items[i]
      if (item.type === 'delivered' && item.offset != null && fragments == null) { return undefined }
      statuses.push(seen ? 'duplicate' : 'accepted')
    }
    // 2. the new ones' records (a throw below rolls all of this back: group-commit.ts, and the
    // share books' own `undo`)
    w.books.begin()
    try {
      let bytes = 0
      let entries = 0
      const adds: ShareEntry[] = []
      for (let i = 0; i < items.length; i++) {
        if (statuses[i] !== 'accepted') { continue }
        const kept = w.keep(tx, items[i], pks[i], fragments)
        adds.push(kept)
        bytes += kept.charge
        entries++
      }
      // 3. room: forward-only copies in the way give way, or the change is refused (the
      // fragments a completed ADU frees are already credited)
      if (adds.length > 0) { this.#makeRoom(tx, adds) }
      tx.charge(bytes, entries)
      for (let i = 0; i < adds.length; i++) { w.books.pend(tx, adds[i], 1) }
      for (let i = 0; i < items.length; i++) { if (statuses[i] === 'accepted') { tx.markWritten(pks[i]) } }
      if (state != null) { tx.put(w.state, state.key, state.value) }
      w.books.end()
      return statuses
    } catch (err) {
      w.books.undo()
      throw err
    }
  }

  /** The slow path of an accept: reads what memory could not tell, then decides. */
  async afterReads (tx: Tx, items: AcceptItem[], pks: string[], state?: StateWrite): Promise<AcceptStatus[]> {
    const read = new Map<string, boolean>()
    const fragments = new Map<string, string[]>()
    for (let i = 0; i < items.length; i++) {
      if (!read.has(pks[i])) { read.set(pks[i], await this.#w.seenIds.read(pks[i])) }
      const item = items[i]
      if (item.type === 'delivered' && item.offset != null) {
        const ak = aduKey(item.meta.id)
        if (!fragments.has(ak)) { fragments.set(ak, await this.#w.fragments.keys(under(ak)).all()) }
      }
    }
    // every part was read and every fragment list made: this decides
    return this.now(tx, items, pks, state, read, fragments) as AcceptStatus[]
  }

  /**
   * Evicts forward-only copies until `adds` fit every share, the forward pool and the quota
   * (bundle-shares.ts), largest remaining lifetime first; throws the first limit's code, having
   * evicted nothing that stays evicted (the caller rolls the change back), when none may give way.
   */
  #makeRoom (tx: Tx, adds: ShareEntry[]): void {
    const w = this.#w
    // a forward-only newcomer displaces only copies that would outlive it; one addressed to this
    // node, or this node's own, displaces any
    let outliving: number | undefined = Number.POSITIVE_INFINITY
    for (const e of adds) {
      if (!e.outbound || e.own) {
        outliving = undefined
        break
      }
      outliving = Math.min(outliving, e.expiresAt)
    }
    for (let guard = 0; guard < 1_000_000; guard++) {
      const breach = w.books.breach(tx, adds)
      if (breach == null) { return }
      const victim = w.books.victim(tx, breach.account, outliving)
      // [REFUSE] nothing may give way: nothing of this change is written
      if (victim == null) {
        throw new BundleStoreError(breach.code, `${LIMIT_NAMES[breach.code]} is full (store holds ${tx.usage.bytes} of ${this.#quotaBytes} bytes)`)
      }
      w.removeOutbound(tx, victim, true)
      tx.onCommit(() => { w.books.evicted++ })
    }
    throw new BundleStoreError('QUOTA_EXCEEDED', 'no room could be made')
  }
}
