import type { LinkParams } from './link-model.ts'
import type { Rng } from '../core/rng.ts'

/** Retransmission timeout charged for one lost chunk: QUIC's initial PTO is about 3x the RTT, and never below 200 ms. */
function rtoMs (p: LinkParams): number {
  return Math.max(200, 6 * p.latencyMs)
}

/** Losses of one chunk at most (bounded loop; at loss 0.5 the odds of more are below 1e-6). */
const MAX_RETRANSMITS = 20

/**
 * One direction of a link: chunks go in, and come out in order after the link's serialization,
 * latency, jitter and loss delay. One timer per line, for the head chunk only.
 */
export class DelayLine<T> {
  private readonly queue: Array<{ at: number, item: T }> = []
  private timer?: ReturnType<typeof setTimeout>
  private txFreeAt = 0
  private lastAt = 0
  private readonly params: () => LinkParams
  private readonly rng: Rng
  private readonly deliver: (item: T) => void
  private readonly now: () => number
  private readonly merge?: (items: T[]) => T
  private drainedWaiters: Array<() => void> = []

  /**
   * `merge`, when given, joins chunks that come due together into one delivery, as a network
   * hands the receiver what arrived between two reads: each delivery costs the receiving stack
   * a full pass (decrypt, demultiplex, events), whatever its size.
   */
  constructor (params: () => LinkParams, rng: Rng, deliver: (item: T) => void, now: () => number = () => performance.now(), merge?: (items: T[]) => T) {
    this.params = params
    this.rng = rng
    this.deliver = deliver
    this.now = now
    if (merge != null) { this.merge = merge }
  }

  /** Queues `item` of `bytes` bytes; it comes out after the link's delay, never before an earlier one. */
  push (item: T, bytes: number): void {
    const p = this.params()
    const now = this.now()
    let at = now
    if (p.bandwidthKbps > 0) {
      this.txFreeAt = Math.max(now, this.txFreeAt) + (bytes * 8) / p.bandwidthKbps
      at = this.txFreeAt
    }
    at += p.latencyMs
    if (p.jitterMs > 0) { at += this.rng.range(-p.jitterMs, p.jitterMs) }
    if (p.loss > 0) {
      for (let i = 0; i < MAX_RETRANSMITS && this.rng.next() < p.loss; i++) { at += rtoMs(p) }
    }
    // In order: a stream never overtakes itself.
    at = Math.max(at, this.lastAt, now)
    this.lastAt = at
    if (at <= now && this.queue.length === 0) {
      this.deliver(item)
      return
    }
    this.queue.push({ at, item })
    if (this.queue.length === 1) { this.arm() }
  }

  /** Resolves once every queued chunk came out (for an orderly close after the data). */
  async drained (): Promise<void> {
    if (this.queue.length === 0) { return }
    await new Promise<void>(resolve => { this.drainedWaiters.push(resolve) })
  }

  /** Drops everything queued (a reset or a cut link). */
  clear (): void {
    this.queue.length = 0
    if (this.timer != null) { clearTimeout(this.timer) }
    this.timer = undefined
    this.wake()
  }

  get pending (): number {
    return this.queue.length
  }

  private arm (): void {
    const head = this.queue[0]
    if (head == null) { return }
    this.timer = setTimeout(() => { this.flush() }, Math.max(0, head.at - this.now()))
  }

  private flush (): void {
    this.timer = undefined
    const now = this.now()
    // Deliver everything due, in order; bounded by the queue length at entry.
    let due = 0
    while (due < this.queue.length && this.queue[due].at <= now + 0.5) { due++ }
    const items = this.queue.splice(0, due).map(q => q.item)
    if (this.merge != null && items.length > 1) {
      this.deliver(this.merge(items))
    } else {
      for (const item of items) { this.deliver(item) }
    }
    if (this.queue.length > 0) { this.arm() } else { this.wake() }
  }

  private wake (): void {
    const w = this.drainedWaiters
    this.drainedWaiters = []
    for (const f of w) { f() }
  }
}
