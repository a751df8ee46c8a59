/* eslint-disable jsdoc/check-indentation -- the doc comment holds an indented list */
import { PREAUTH_DEFAULTS } from './constants.ts'
import { sourceKey } from './source-address.ts'

/**
 * Connections that have not authenticated yet are a resource of their own, apart from libp2p's
 * `maxConnections`: a stranger needs no certificate to open one, and each holds a slot, a QUIC
 * connection's memory and (the listener proving first) one signature of ours until the auth
 * deadline. So they are capped globally and per source address (source-address.ts), and a
 * source whose connections keep failing auth is backed off. The PeerId plays no part: it costs
 * nothing to change.
 *
 * - Per source: a new connection from a source already holding `maxPendingPerSource` is refused
 *   (by the connection gater before its upgrade when it can, else at once after).
 * - Global: when `maxPending` are waiting, room is made by closing the oldest waiting connection
 *   of the source holding the most: a flood from a few sources evicts itself, and a member
 *   dialling from its own address, holding one, is the last to go.
 * - Slots for members: at `maxConnections - 1` connections in all, the same pruning makes room
 *   before libp2p would refuse the next inbound connection, so an authenticated member can
 *   always come in while any connection is still waiting.
 * - Back-off: every failed auth of an inbound connection (the deadline included) is a strike
 *   against its source; `strikesToBackoff` within `strikeWindowMs` back the source off for
 *   `backoffInitialMs`, doubling on each further strike up to `backoffMaxMs`.
 *
 * Pure bookkeeping with the clock passed in; the auth service acts on what it says.
 */
export interface PreauthLimits {
  /** Connections waiting for auth, all sources together. */
  maxPending: number
  /** Connections waiting for auth from one source (IPv4 address or IPv6 /64). */
  maxPendingPerSource: number
  /** Failed auths from one source within `strikeWindowMs` that back the source off. */
  strikesToBackoff: number
  strikeWindowMs: number
  /** First back-off of a source, ms; doubles with each further strike, up to `backoffMaxMs`. */
  backoffInitialMs: number
  backoffMaxMs: number
  /** Sources whose strikes are remembered at most; the stalest is forgotten first. */
  maxTrackedSources: number
}

/** Why the limiter turned a connection away. */
export type PreauthRefusal = 'SOURCE_BACKED_OFF' | 'SOURCE_LIMIT'

interface Waiting { id: string, source: string | undefined, since: number, seq: number }
interface Strikes { count: number, first: number, last: number, until: number }

export class PreauthLimiter {
  readonly limits: PreauthLimits
  private readonly now: () => number
  private readonly waiting = new Map<string, Waiting>()
  private readonly perSource = new Map<string, number>()
  private readonly strikes = new Map<string, Strikes>()
  private seq = 0
  /** Connections turned away, by reason (the gater's and the service's together). */
  readonly refused: Record<PreauthRefusal, number> = { SOURCE_BACKED_OFF: 0, SOURCE_LIMIT: 0 }

  constructor (limits: Partial<PreauthLimits> = {}, now: () => number = Date.now) {
    this.limits = { ...PREAUTH_DEFAULTS, ...limits }
    this.now = now
  }

  /** Connections waiting for auth now. */
  get pending (): number {
    return this.waiting.size
  }

  /** Connections waiting for auth from the source of `remoteAddr`. */
  pendingFrom (remoteAddr: string): number {
    const source = sourceKey(remoteAddr)
    return source == null ? 0 : this.perSource.get(source) ?? 0
  }

  /** `refusal`, counted when it turns the connection away: the connection gater's check before the upgrade. */
  gate (remoteAddr: string): PreauthRefusal | undefined {
    const r = this.refusal(remoteAddr)
    if (r != null) { this.refused[r]++ }
    return r
  }

  /** Why a new connection from `remoteAddr` must be turned away, or undefined when it may wait for auth. */
  refusal (remoteAddr: string): PreauthRefusal | undefined {
    const source = sourceKey(remoteAddr)
    if (source == null) { return undefined }
    const s = this.strikes.get(source)
    if (s != null && this.now() < s.until) { return 'SOURCE_BACKED_OFF' }
    if ((this.perSource.get(source) ?? 0) >= this.limits.maxPendingPerSource) { return 'SOURCE_LIMIT' }
    return undefined
  }

  /**
   * Counts connection `id` as waiting, unless `refusal` says no. Returns the ids of waiting
   * connections to close to make room: at most one per call, as each admission adds one.
   * `total` is the node's connection count and `maxConnections` libp2p's cap.
   */
  admit (id: string, remoteAddr: string, total: number, maxConnections: number): { refused?: PreauthRefusal, evict: string[] } {
    const refused = this.gate(remoteAddr)
    if (refused != null) { return { refused, evict: [] } }
    const source = sourceKey(remoteAddr)
    this.waiting.set(id, { id, source, since: this.now(), seq: this.seq++ })
    if (source != null) { this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1) }
    const evict: string[] = []
    if (this.waiting.size > this.limits.maxPending || (total >= maxConnections - 1 && this.waiting.size > 1)) {
      const victim = this.victim()
      if (victim != null) { evict.push(victim) }
    }
    return { evict }
  }

  /** Connection `id` stopped waiting (authenticated, failed or closed). */
  release (id: string): void {
    const w = this.waiting.get(id)
    if (w == null) { return }
    this.waiting.delete(id)
    if (w.source == null) { return }
    const n = (this.perSource.get(w.source) ?? 1) - 1
    if (n <= 0) { this.perSource.delete(w.source) } else { this.perSource.set(w.source, n) }
  }

  /** A failed auth from `remoteAddr`: one strike against its source, which may back it off. */
  strike (remoteAddr: string): void {
    const source = sourceKey(remoteAddr)
    if (source == null) { return }
    const now = this.now()
    const l = this.limits
    const prev = this.strikes.get(source)
    const s: Strikes = prev != null && now - prev.first <= l.strikeWindowMs
      ? { ...prev, count: prev.count + 1, last: now }
      : { count: 1, first: now, last: now, until: prev?.until ?? 0 }
    if (s.count >= l.strikesToBackoff) {
      const over = s.count - l.strikesToBackoff
      s.until = now + Math.min(l.backoffMaxMs, l.backoffInitialMs * 2 ** Math.min(over, 32))
      // The window restarts with the back-off, so the next block needs fresh strikes after it.
      s.first = s.until
    }
    this.strikes.delete(source)
    this.strikes.set(source, s)
    if (this.strikes.size > l.maxTrackedSources) {
      // Oldest insertion first: a source struck again moved to the end above.
      const stalest = this.strikes.keys().next().value
      if (stalest != null) { this.strikes.delete(stalest) }
    }
  }

  /** True while `remoteAddr`'s source is backed off. */
  isBackedOff (remoteAddr: string): boolean {
    return this.refusal(remoteAddr) === 'SOURCE_BACKED_OFF'
  }

  /** The oldest waiting connection of the source holding the most; sources without an address count as one each. */
  private victim (): string | undefined {
    let best: Waiting | undefined
    let bestCount = -1
    for (const w of this.waiting.values()) {
      const count = w.source == null ? 1 : this.perSource.get(w.source) ?? 1
      if (count > bestCount || (count === bestCount && best != null && w.seq < best.seq)) {
        best = w
        bestCount = count
      }
    }
    return best?.id
  }
}
