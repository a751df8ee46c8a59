import { decodeRecord } from './bundle-records.ts'
import type { OutboundMeta } from './bundle-records.ts'
import type { RecordWriter } from './bundle-writes.ts'
import type { Tx } from './group-commit.ts'
import type { PeerIdentity } from '../../pki/peer-verifier.ts'

/** Seen ids looked at per sweep: bounds its work; a store holding fewer is swept exactly each time. */
export const SEEN_SCAN_PAGE = 4096

/**
 * What leaves the bundle store other than by custody or delivery: expired records and seen ids
 * (`sweep`), and the bundles of a revoked source (`purge`). Each runs inside one group
 * transaction the store hands it.
 */
export class BundleExpiry {
  readonly #w: RecordWriter
  /** Where the next sweep's page of seen ids starts ('' = the beginning). */
  #seenCursor = ''

  constructor (w: RecordWriter) {
    this.#w = w
  }

  /**
   * Removes what expired at `now`: held bundles, fragments awaiting reassembly and inbox entries
   * (with the seen ids of bundles and fragments), then a page of expired seen ids. Processes at
   * most `limit` entries and returns how many.
   */
  async sweep (tx: Tx, now: number, limit: number): Promise<number> {
    const w = this.#w
    let n = 0
    for (const { kind, key } of w.index.expired(now, limit)) {
      n++
      // expired: the record goes, and no seen id replaces it (an expired bundle is refused anyway)
      if (kind === 'b') {
        w.removeOutbound(tx, key, false)
        w.deleteSeen(tx, key)
      } else {
        const pk = w.index.held.get(`${kind}:${key}`)?.pk
        w.deleteHeld(tx, kind, key)
        if (pk != null) { w.deleteSeen(tx, pk) }
      }
    }
    if (n < limit) { n += await this.#sweepSeen(tx, now, limit - n) }
    return n
  }

  /** One page of `dtn-seen` from the cursor: drops expired ids (not those of records still held). */
  async #sweepSeen (tx: Tx, now: number, limit: number): Promise<number> {
    const w = this.#w
    let n = 0
    let scanned = 0
    let last = ''
    for await (const [pk, expiresAt] of w.seen.iterator({ gt: this.#seenCursor, limit: SEEN_SCAN_PAGE })) {
      scanned++
      last = pk
      if (expiresAt > now || tx.gone(`s:${pk}`) || w.index.holds(pk)) { continue }
      w.deleteSeen(tx, pk)
      if (++n >= limit) { break }
    }
    // wrap to the start once a page comes back short: the next sweep begins a new pass
    this.#seenCursor = n < limit && scanned < SEEN_SCAN_PAGE ? '' : last
    return n
  }

  /**
   * Purges every bundle, fragment and inbox entry in key `range` whose signer `match` names.
   * Seen ids replace them, so the purged bundles are not accepted again before they expire.
   */
  async purge (tx: Tx, range: Record<string, string>, match: (signer: PeerIdentity) => boolean): Promise<number> {
    const w = this.#w
    let n = 0
    const test = (signer: PeerIdentity): boolean => {
      try {
        return match(signer)
      } catch {
        return true // fail closed, as the revocation state does
      }
    }
    for await (const [key, v] of w.bundles.iterator(range)) {
      if (!test(decodeRecord<OutboundMeta>(v).meta.signer)) { continue }
      w.removeOutbound(tx, key, true)
      n++
    }
    for (const [kind, sub] of [['f', w.fragments], ['i', w.inbox]] as const) {
      for await (const [key, v] of sub.iterator(range)) {
        const meta = decodeRecord<{ signer: PeerIdentity, expiresAt: number }>(v).meta
        if (!test(meta.signer)) { continue }
        w.deleteHeld(tx, kind, key, meta.expiresAt)
        n++
      }
    }
    return n
  }
}
