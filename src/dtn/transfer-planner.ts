import { KeyedLock } from './keyed-lock.ts'
import { setHopCount } from './mesh-bundle.ts'
import { DEFAULT_RETRY_POLICY, nextAttemptAt } from './retry.ts'
import { route } from './routing.ts'
import { partKey } from './store/bundle-keys.ts'
import { STORE_REFUSAL_CODES } from './store/bundle-records.ts'
import type { BundleId } from './bundle-id.ts'
import type { RetryPolicy } from './retry.ts'
import type { BundleStore, OutboundMeta } from './store/bundle-store.ts'

/**
 * Turns held bundles into custody transfers (what to send to whom now) and applies the ACKs.
 * The routing decision is `route()` (pure); this class adds the store reads, the retry schedule
 * and the bookkeeping of who holds what. The protocol handler runs the transfers.
 */

/** How a receiver answered a transfer (protocols/bundle ACK frame). */
export type AckStatus = 'accepted' | 'duplicate' | 'rejected'

/** One bundle (or fragment) to send to one peer, hop count already raised. */
export interface Transfer {
  peer: string
  id: BundleId
  offset: number
  kind: 'direct' | 'spray' | 'flood'
  /** Spray-and-wait copies handed over with it (1 for direct and flood). */
  copies: number
  bytes: Uint8Array
}

/** Receiver refusals that may pass (its quota or shares, its own trouble): retried on schedule. */
const TRANSIENT_REFUSALS = new Set<string>([...STORE_REFUSAL_CODES, 'INTERNAL'])
/** Holders remembered per bundle; beyond this a peer may be offered it again and answer "duplicate". */
const MAX_HOLDERS = 256

export interface TransferPlannerInit {
  store: BundleStore
  self: string
  now(): number
  random(): number
  retry?: RetryPolicy
}

export class TransferPlanner {
  readonly #init: TransferPlannerInit
  readonly #inFlight = new Set<string>()
  readonly #locks = new KeyedLock()

  constructor (init: TransferPlannerInit) {
    this.#init = init
  }

  /** Transfers in flight now (for tests and metrics). */
  get inFlight (): number {
    return this.#inFlight.size
  }

  /**
   * Plans transfers to `connected` peers: bundles whose retry is due, plus, when `peer` just
   * connected, everything addressed to it, every broadcast and everything still sprayable.
   * Due bundles get their next attempt scheduled (back-off with jitter) whatever happens.
   */
  async plan (connected: readonly string[], options: { peer?: string, relays?: readonly string[], limit?: number } = {}): Promise<Transfer[]> {
    const now = this.#init.now()
    const limit = options.limit ?? 256
    const metas = new Map<string, OutboundMeta>()
    const add = (m: OutboundMeta): void => { if (metas.size < limit * 4) { metas.set(partKey(m.id, m.offset), m) } }
    for (const m of await this.#init.store.dueOutbound(now, limit)) { add(m) }
    if (options.peer != null) {
      for (const m of await this.#init.store.outboundFor(options.peer, false, limit)) { add(m) }
      for (const m of await this.#init.store.outboundFor('', true, limit)) { add(m) }
      for (const m of await this.#init.store.sprayable(limit)) { add(m) }
    }
    const transfers: Transfer[] = []
    for (const [pk, m] of metas) {
      const decision = route({
        now,
        destination: m.broadcast ? 'broadcast' : m.destination,
        expiresAt: m.expiresAt,
        hopCount: m.hopCount,
        hopLimit: m.hopLimit,
        copies: m.copies,
        connected,
        relays: options.relays,
        holders: m.receivedFrom == null ? m.sentTo : [...m.sentTo, m.receivedFrom],
        self: this.#init.self
      })
      const targets = decision.action === 'direct'
        ? [{ peer: decision.peer, copies: 1 }]
        : decision.action === 'spray'
          ? decision.handoffs
          : decision.action === 'flood' ? decision.peers.map(peer => ({ peer, copies: 1 })) : []
      let bytes: Uint8Array | undefined
      for (const target of targets) {
        if (transfers.length >= limit) { break }
        const flightKey = `${pk}>${target.peer}`
        if (this.#inFlight.has(flightKey)) { continue }
        if (bytes == null) {
          const held = await this.#init.store.getOutbound(m.id, m.offset)
          if (held == null) { break }
          bytes = setHopCount(held.bytes, m.hopCount + 1)
        }
        this.#inFlight.add(flightKey)
        transfers.push({ peer: target.peer, id: m.id, offset: m.offset, kind: decision.action as Transfer['kind'], copies: target.copies, bytes })
      }
      if (m.nextAttemptAt <= now) {
        const next = decision.action === 'drop' ? m.expiresAt : nextAttemptAt(now, m.attempts, m.expiresAt, this.#init.random, this.#init.retry ?? DEFAULT_RETRY_POLICY)
        // the schedule lives in memory (bundle-store.ts): planning a retry writes nothing
        this.#init.store.reschedule(m.id, m.offset, { attempts: m.attempts + 1, nextAttemptAt: Math.max(next, now + 1) })
      }
    }
    return transfers
  }

  /** Applies the receiver's ACK: release after a direct hand-over, keep the spray share, note holders. */
  async complete (t: Transfer, ack: { status: AckStatus, code?: string }): Promise<void> {
    const pk = partKey(t.id, t.offset)
    try {
      if (ack.status === 'rejected' && (ack.code == null || TRANSIENT_REFUSALS.has(ack.code))) { return }
      await this.#locks.run(pk, async () => {
        if (t.kind === 'direct' && ack.status !== 'rejected') {
          // custody has passed to the destination: only now may we let go
          await this.#init.store.release(t.id, t.offset)
          return
        }
        const held = await this.#init.store.getOutbound(t.id, t.offset)
        if (held == null) { return }
        const sentTo = held.meta.sentTo.includes(t.peer) ? held.meta.sentTo : [...held.meta.sentTo, t.peer].slice(-MAX_HOLDERS)
        const copies = t.kind === 'spray' && ack.status === 'accepted' ? Math.max(1, held.meta.copies - t.copies) : held.meta.copies
        await this.#init.store.updateOutbound(t.id, t.offset, { sentTo, copies })
      })
    } finally {
      this.#inFlight.delete(`${pk}>${t.peer}`)
    }
  }

  /** Forgets a transfer that got no ACK; its bundle's schedule already holds the next attempt. */
  fail (t: Transfer): void {
    this.#inFlight.delete(`${partKey(t.id, t.offset)}>${t.peer}`)
  }
}
