import { randomUUID } from 'node:crypto'
import { SYNC } from '../../store/mesh-store.ts'
import { NodeRuntimeError } from './errors.ts'
import type { AnomalyPayload } from '../../../protocols/anomaly-gossip/index.ts'
import type { ReservedId } from '../../dtn/bundle-agent.ts'
import type { Destination } from '../../dtn/eid.ts'
import type { MeshStore, Sublevel } from '../../store/mesh-store.ts'

/**
 * What a node sends while it has no valid certificate (its outbound gossip and
 * bundles wait on disk until it has a valid certificate again, so nothing is lost), kept in the node's one LevelDB
 * beside the bundle store, in arrival order. Nothing signed under an expired certificate leaves
 * the node (every peer would refuse it, and a bundle's lifetime is clamped to its signer's
 * certificate); instead the request is kept, and the caller gets at once what it would have got
 * (a bundle_id and expiry taken from the agent's sequence, a message_id), so ids stay stable.
 * After the renewal the requests are signed with the new certificate and sent, oldest first;
 * each entry leaves the hold only once its send succeeded, so a crash in between sends it again
 * at the next start (a bundle under the same id, which receivers deduplicate).
 */

/** One held request; payloads as base64 (the sublevel is JSON). */
export type HeldItem =
  | { kind: 'bundle', reserved: ReservedId, destination: Destination, ttlSec: number, payload: string }
  // heldAt is the envelope's timestamp when released, so a release repeated after a crash
  // publishes the same content (one gossip id) rather than a second version of the message_id.
  // Items held before it existed lack it and take the release time.
  | { kind: 'anomaly', idSuffix: string, payload: AnomalyPayload, expiresAt: number, heldAt?: number }

/** How held requests are sent once the certificate is valid again. */
export interface HeldSenders {
  bundle(req: { destination: Destination, ttlSec: number, payload: Uint8Array }, reserved: ReservedId): Promise<unknown>
  anomaly(payload: AnomalyPayload, options: { ttl: number, idSuffix: string, timestamp?: number }): Promise<unknown>
}

export interface HeldOutboxOptions {
  /** Most requests held. @default 10,000 */
  maxItems?: number
  /** Most payload bytes held. @default 64 MiB */
  maxBytes?: number
}

export interface ReleaseReport {
  sent: number
  /** Expired while held: their lifetime ran out before the node had a certificate again. */
  expired: number
  /** Left for the next release (a send failed). */
  left: number
}

/** Keys sort in arrival order: a zero-padded counter. */
const key = (n: number): string => n.toString(16).padStart(12, '0')
/** An anomaly signature lives at least this long when sent (the gossip minimum is 1 s). */
const MIN_ANOMALY_TTL_SEC = 1

export class HeldOutbox {
  readonly #db: Sublevel<HeldItem>
  readonly #now: () => number
  readonly #maxItems: number
  readonly #maxBytes: number
  #next = 0
  #items = 0
  #bytes = 0
  #releasing: Promise<ReleaseReport> | undefined

  private constructor (db: Sublevel<HeldItem>, now: () => number, o: HeldOutboxOptions) {
    this.#db = db
    this.#now = now
    this.#maxItems = o.maxItems ?? 10_000
    this.#maxBytes = o.maxBytes ?? 64 * 1024 * 1024
  }

  /** Opens the hold of a node's store, counting what a previous run left in it. */
  static async open (store: MeshStore, now: () => number, options: HeldOutboxOptions = {}): Promise<HeldOutbox> {
    const h = new HeldOutbox(store.sublevel<HeldItem>('node-held'), now, options)
    for await (const [k, v] of h.#db.iterator()) {
      h.#next = Math.max(h.#next, parseInt(k, 16) + 1)
      h.#items++
      h.#bytes += sizeOf(v)
    }
    return h
  }

  get size (): number {
    return this.#items
  }

  /** Holds a bundle under an id reserved from the agent. Throws NodeRuntimeError HOLD_FULL, holding nothing. */
  async holdBundle (req: { destination: Destination, ttlSec: number, payload: Uint8Array }, reserved: ReservedId): Promise<void> {
    await this.#put({ kind: 'bundle', reserved, destination: req.destination, ttlSec: req.ttlSec, payload: Buffer.from(req.payload).toString('base64') })
  }

  /** Holds an anomaly signature; resolves the message_id suffix it will be published under. */
  async holdAnomaly (payload: AnomalyPayload, ttlSec: number): Promise<{ idSuffix: string, expiresAt: number }> {
    const heldAt = this.#now()
    const item = { kind: 'anomaly' as const, idSuffix: randomUUID(), payload, expiresAt: heldAt + ttlSec * 1000, heldAt }
    await this.#put(item)
    return item
  }

  /** Sends everything held, oldest first (one release at a time); stops at the first failure. */
  async release (send: HeldSenders): Promise<ReleaseReport> {
    this.#releasing ??= this.#release(send).finally(() => { this.#releasing = undefined })
    return this.#releasing
  }

  async #release (send: HeldSenders): Promise<ReleaseReport> {
    const report: ReleaseReport = { sent: 0, expired: 0, left: 0 }
    // A bounded page per release: a later release (next rotation, next start) takes the rest.
    const entries = await this.#db.iterator({ limit: this.#maxItems }).all()
    for (const [k, item] of entries) {
      const now = this.#now()
      try {
        if (item.kind === 'bundle') {
          if (now >= item.reserved.expiresAt) {
            report.expired++
          } else {
            await send.bundle({ destination: item.destination, ttlSec: item.ttlSec, payload: Buffer.from(item.payload, 'base64') }, item.reserved)
            report.sent++
          }
        } else {
          const ttl = Math.floor((item.expiresAt - now) / 1000)
          if (ttl < MIN_ANOMALY_TTL_SEC) {
            report.expired++
          } else {
            await send.anomaly(item.payload, item.heldAt != null
              ? { ttl: Math.round((item.expiresAt - item.heldAt) / 1000), idSuffix: item.idSuffix, timestamp: item.heldAt }
              : { ttl, idSuffix: item.idSuffix })
            report.sent++
          }
        }
      } catch {
        report.left = entries.length - report.sent - report.expired
        return report
      }
      await this.#db.del(k, SYNC)
      this.#items--
      this.#bytes -= sizeOf(item)
    }
    return report
  }

  async #put (item: HeldItem): Promise<void> {
    const bytes = sizeOf(item)
    if (this.#items + 1 > this.#maxItems || this.#bytes + bytes > this.#maxBytes) {
      throw new NodeRuntimeError('HOLD_FULL', `the node holds ${this.#items} requests (${this.#bytes} bytes) until it has a valid certificate again; no room for more`)
    }
    // Counted before the write, so two concurrent holds cannot both pass the check at the limit.
    this.#items++
    this.#bytes += bytes
    try {
      await this.#db.put(key(this.#next++), item, SYNC)
    } catch (err) {
      this.#items--
      this.#bytes -= bytes
      throw err
    }
  }
}

function sizeOf (item: HeldItem): number {
  return item.kind === 'bundle' ? item.payload.length : JSON.stringify(item.payload).length
}
