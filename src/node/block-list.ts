/**
 * Peers the node refuses for a while: after a failed auth (back-off that grows with repeated
 * failures) or for good after a revocation. The connection gater consults it on every dial and
 * every inbound connection; the clock is passed in.
 */
export interface BackoffPolicy {
  /** First block after a failure, ms. */
  initialMs: number
  /** Each further failure multiplies the block by this. */
  factor: number
  /** The block never grows beyond this, ms. */
  maxMs: number
  /** A peer whose last failure is older than this starts again at `initialMs`. */
  forgetAfterMs: number
  /** Entries kept at most; the one whose block ends first is dropped first. */
  maxEntries: number
}

export interface BlockEntry {
  peerId: string
  /** A bounded code: an AuthErrorCode, or REVOKED. */
  reason: string
  /** Consecutive failures counted towards the back-off. */
  strikes: number
  /** Clock time (ms) of the last block. */
  since: number
  /** Clock time (ms) the block ends; Infinity for a revocation. */
  until: number
}

export class BlockList {
  private readonly entries = new Map<string, BlockEntry>()
  private readonly policy: BackoffPolicy
  private readonly now: () => number

  constructor (policy: BackoffPolicy, now: () => number) {
    this.policy = policy
    this.now = now
  }

  /** Records a failure by `peerId` and blocks it for the back-off its strike count earns. */
  strike (peerId: string, reason: string): BlockEntry {
    const now = this.now()
    const previous = this.entries.get(peerId)
    if (previous?.until === Infinity) { return previous }
    const strikes = previous != null && now - previous.since <= this.policy.forgetAfterMs ? previous.strikes + 1 : 1
    const duration = Math.min(this.policy.maxMs, this.policy.initialMs * this.policy.factor ** (strikes - 1))
    return this.put({ peerId, reason, strikes, since: now, until: now + duration })
  }

  /** Blocks `peerId` until `unblock` (revoked peers). */
  blockForever (peerId: string, reason: string): BlockEntry {
    return this.put({ peerId, reason, strikes: (this.entries.get(peerId)?.strikes ?? 0) + 1, since: this.now(), until: Infinity })
  }

  isBlocked (peerId: string): boolean {
    const entry = this.entries.get(peerId)
    return entry != null && this.now() < entry.until
  }

  get (peerId: string): BlockEntry | undefined {
    return this.entries.get(peerId)
  }

  /** Forgets a peer's strikes (after it authenticates) unless it is blocked for good. */
  forgive (peerId: string): void {
    if (this.entries.get(peerId)?.until !== Infinity) { this.entries.delete(peerId) }
  }

  unblock (peerId: string): void {
    this.entries.delete(peerId)
  }

  list (): BlockEntry[] {
    return [...this.entries.values()]
  }

  private put (entry: BlockEntry): BlockEntry {
    this.entries.delete(entry.peerId)
    this.entries.set(entry.peerId, entry)
    if (this.entries.size > this.policy.maxEntries) { this.evict() }
    return entry
  }

  private evict (): void {
    const now = this.now()
    for (const [peerId, entry] of this.entries) {
      if (entry.until <= now) { this.entries.delete(peerId) }
    }
    // Still too many: drop the blocks that end soonest (bounded by maxEntries + 1 passes).
    while (this.entries.size > this.policy.maxEntries) {
      let soonest: BlockEntry | undefined
      for (const entry of this.entries.values()) { if (soonest == null || entry.until < soonest.until) { soonest = entry } }
      if (soonest == null) { break }
      this.entries.delete(soonest.peerId)
    }
  }
}
