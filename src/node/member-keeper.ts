import { REAL_TIMERS } from './keeper-types.ts'
import { redialDelay } from './redial-backoff.ts'
import type { KeepAliveOptions, KeeperHost, KeeperStats, KeeperTimers, MemberKeeperInit } from './keeper-types.ts'

interface Retry {
  attempt: number
  timer?: unknown
  inFlight?: AbortController
  /** Clock time the running attempt started. */
  startedAt?: number
  /** The next attempt comes at once, not after the back-off step: a link just came back. */
  soon?: boolean
}

/**
 * When a peer we were redialling authenticates again, the link that failed is likely back, so
 * every other pending redial runs now instead of after its back-off step: within this spread
 * (random), so a site that regains its uplink does not send every handshake in one burst.
 */
const COMEBACK_SPREAD_MS = 500
/**
 * A running attempt older than this, that has not even opened a connection, is restarted on a
 * comeback: it began while the link was down and waits out a dead address or a QUIC handshake
 * whose retransmits have stopped, while a fresh dial over the restored link takes a round trip.
 */
const STALE_ATTEMPT_MS = 2_000

/**
 * Keeps a node on the mesh without an operator: the peers it must not lose are redialled after a
 * drop, and the number of authenticated members it talks to is kept up.
 *
 * - Bootstrap peers are redialled for as long as the node runs: they are how a node finds the
 * mesh again after its uplink returns, and how a restarted bootstrap server gets its members back.
 * - Members that authenticated recently (within `memberForMs` of their drop) are redialled too,
 * at most `maxMembers` of them, the most recent first: after a cut, a node gets back the links
 * it had, not only the bootstrap link.
 * - Both get libp2p `keep-alive-*` tags while connected, so the connection pruner spares them.
 * - When one of the peers it redials is back, the link that dropped them is likely back too: the
 * others are redialled at once, not after their back-off step (the first reconnect after a cut
 * brings the rest within a round of dials).
 * - Every `checkMs`, below `targetMembers` authenticated members the node dials more: members it
 * knew, peers identify and the DHT put in the peer store, then the members the DHT rendezvous
 * names (at most every `rendezvousMs`), then a DHT query for peers near it (at most every
 * `dhtQueryMs`).
 * - The node provides the rendezvous key itself, every `rendezvousMs` until a DHT server has
 * stored it, then every `dhtQueryMs`: a server that restarted and lost the record gets it back.
 * The rendezvous is how members behind NATs (DHT clients, which no routing table holds) meet.
 *
 * libp2p 3.3 has its own keep-alive redial (the connection manager's reconnect queue), but it
 * retries a fixed number of times without jitter, on its own clock, and then drops the tag for
 * good: a 30 s cut outlives it. The node runs that queue with no retries (one immediate attempt)
 * and this class does the rest. Timers are unref'd and all stop with the node.
 */
export { REAL_TIMERS } from './keeper-types.ts'
export type { KeepAliveOptions, KeeperHost, KeeperStats, KeeperTimers, MemberKeeperInit } from './keeper-types.ts'

export class MemberKeeper {
  private readonly host: KeeperHost
  private readonly options: KeepAliveOptions
  private readonly now: () => number
  private readonly random: () => number
  private readonly timers: KeeperTimers
  /** Bootstrap peers by PeerId, with their multiaddrs. */
  private readonly bootstrap = new Map<string, string[]>()
  /** Members by PeerId: clock time they were last seen authenticated (Map order = least recent first). */
  private readonly members = new Map<string, number>()
  private readonly retries = new Map<string, Retry>()
  private readonly refilling = new Set<string>()
  private checkTimer: unknown
  private lastDhtQuery = -Infinity
  private dhtQuery?: AbortController
  private lastRendezvous = -Infinity
  private lastProvide = -Infinity
  private provided = false
  private providing?: AbortController
  private running = false
  private counts = { redials: 0, refillDials: 0 }

  constructor (init: MemberKeeperInit) {
    this.host = init.host
    this.options = init.options
    this.now = init.now
    this.random = init.random ?? Math.random
    this.timers = init.timers ?? REAL_TIMERS
    for (const addr of init.bootstrap) {
      const peerId = addr.slice(addr.lastIndexOf('/p2p/') + 5)
      this.bootstrap.set(peerId, [...(this.bootstrap.get(peerId) ?? []), addr])
    }
  }

  start (): void {
    if (this.running || !this.options.enabled) { return }
    this.running = true
    for (const [peerId, addrs] of this.bootstrap) {
      void this.host.tag(peerId, 'bootstrap', addrs).catch(err => { this.host.log('tagging bootstrap peer %s failed - %e', peerId, err) })
      // @libp2p/bootstrap dials once shortly after start; the first redial covers a server that was down then.
      this.schedule(peerId)
    }
    this.armCheck()
  }

  stop (): void {
    this.running = false
    this.timers.clear(this.checkTimer)
    this.dhtQuery?.abort()
    this.providing?.abort()
    for (const r of this.retries.values()) {
      this.timers.clear(r.timer)
      r.inFlight?.abort()
    }
    this.retries.clear()
  }

  /** A connection to `peerId` passed mutual auth. */
  authenticated (peerId: string): void {
    if (!this.running) { return }
    const retry = this.retries.get(peerId)
    if (retry != null) {
      this.timers.clear(retry.timer)
      this.retries.delete(peerId)
      this.comeback()
    }
    // Tagged on every auth: libp2p's reconnect queue strips keep-alive tags after its one failed attempt.
    if (this.bootstrap.has(peerId)) {
      void this.host.tag(peerId, 'bootstrap').catch(err => { this.host.log('tagging bootstrap peer %s failed - %e', peerId, err) })
    } else if (this.options.maxMembers > 0) {
      this.members.delete(peerId)
      this.members.set(peerId, this.now())
      void this.host.tag(peerId, 'member').catch(err => { this.host.log('tagging member %s failed - %e', peerId, err) })
      this.evict()
    }
  }

  /** The last connection to `peerId` closed. */
  disconnected (peerId: string): void {
    if (!this.running) { return }
    // It was authenticated until now: "recent" counts from the drop.
    if (this.members.has(peerId)) { this.members.set(peerId, this.now()) }
    if (this.wanted(peerId)) { this.schedule(peerId) }
  }

  /** A revoked peer is never redialled (the gater refuses it anyway; this frees its timer). */
  forget (peerId: string): void {
    const retry = this.retries.get(peerId)
    if (retry != null) {
      this.timers.clear(retry.timer)
      retry.inFlight?.abort()
      this.retries.delete(peerId)
    }
    if (this.members.delete(peerId)) { void this.host.untag(peerId, 'member').catch(() => {}) }
    if (this.bootstrap.delete(peerId)) { void this.host.untag(peerId, 'bootstrap').catch(() => {}) }
  }

  /** Peers waiting for a redial (their next attempt is scheduled or running). */
  pending (): string[] {
    return [...this.retries.keys()]
  }

  /** The next redial's attempt number of `peerId`, or undefined when none is pending. */
  attemptOf (peerId: string): number | undefined {
    return this.retries.get(peerId)?.attempt
  }

  stats (): KeeperStats {
    return { bootstrap: this.bootstrap.size, members: this.members.size, scheduled: this.retries.size, ...this.counts }
  }

  private wanted (peerId: string): boolean {
    if (this.bootstrap.has(peerId)) { return true }
    const seen = this.members.get(peerId)
    return seen != null && this.now() - seen <= this.options.memberForMs
  }

  private schedule (peerId: string): void {
    if (!this.running) { return }
    const retry = this.retries.get(peerId) ?? { attempt: 0 }
    if (retry.timer != null || retry.inFlight != null) { return }
    let delay = retry.soon === true ? Math.round(this.random() * COMEBACK_SPREAD_MS) : redialDelay(retry.attempt, this.options.redial, this.random)
    retry.soon = false
    const until = this.host.blockedUntil(peerId)
    if (until === Infinity) {
      this.forget(peerId)
      return
    }
    // A peer backed off after a failed auth is not tried before its block ends.
    if (until != null) { delay = Math.max(delay, until - this.now()) }
    this.retries.set(peerId, retry)
    retry.timer = this.timers.set(() => { void this.redial(peerId) }, delay)
  }

  private async redial (peerId: string): Promise<void> {
    const retry = this.retries.get(peerId)
    if (retry == null || !this.running) { return }
    retry.timer = undefined
    if (!this.wanted(peerId)) {
      this.forget(peerId)
      return
    }
    if (this.host.isConnected(peerId)) {
      // Someone else dialled (the peer itself, discovery): auth success clears the entry; a
      // connection that fails auth closes and brings us back here through `disconnected`.
      this.retries.delete(peerId)
      return
    }
    if (!this.host.isStarted()) { return }
    retry.attempt++
    this.counts.redials++
    const controller = new AbortController()
    retry.inFlight = controller
    retry.startedAt = this.now()
    const deadline = this.attemptDeadline(peerId, controller)
    try {
      await this.host.dial(peerId, controller.signal)
    } catch (err) {
      this.host.log('redial %d of %s failed - %e', retry.attempt, peerId, err)
    } finally {
      deadline.clear()
      retry.inFlight = undefined
      retry.startedAt = undefined
    }
    if (!this.running || this.retries.get(peerId) !== retry) { return }
    if (this.host.isConnected(peerId)) {
      this.retries.delete(peerId)
      return
    }
    this.schedule(peerId)
  }

  /**
   * The deadline of one dial: `attemptTimeoutMs` to get a connection open; a connection that is
   * open by then (its mutual auth still running, slow on a loaded host) gets one more
   * `attemptTimeoutMs`, so auth is not cut off just as the link came back.
   */
  private attemptDeadline (peerId: string, controller: AbortController): { clear(): void } {
    let timer = this.timers.set(() => {
      if (!this.host.isConnected(peerId)) {
        controller.abort()
        return
      }
      timer = this.timers.set(() => { controller.abort() }, this.options.attemptTimeoutMs)
    }, this.options.attemptTimeoutMs)
    return { clear: () => { this.timers.clear(timer) } }
  }

  /** A peer we were redialling is back: every other pending redial runs now (see COMEBACK_SPREAD_MS). */
  private comeback (): void {
    for (const [peerId, retry] of this.retries) {
      if (retry.inFlight != null) {
        // Restarted only when it began well before and has no connection yet; once it fails, `soon` redials at once.
        if (this.now() - (retry.startedAt ?? this.now()) >= STALE_ATTEMPT_MS && !this.host.isConnected(peerId)) {
          retry.soon = true
          retry.inFlight.abort()
        }
        continue
      }
      this.timers.clear(retry.timer)
      retry.timer = undefined
      retry.soon = true
      this.schedule(peerId)
    }
  }

  private armCheck (): void {
    if (!this.running) { return }
    this.checkTimer = this.timers.set(() => {
      void this.check().finally(() => { this.armCheck() })
    }, this.options.checkMs)
  }

  /** Re-arms redials that were missed, then tops the member count up to the target. */
  private async check (): Promise<void> {
    if (!this.running || !this.host.isStarted()) { return }
    for (const peerId of [...this.bootstrap.keys(), ...this.members.keys()]) {
      if (!this.retries.has(peerId) && this.wanted(peerId) && !this.host.isConnected(peerId)) { this.schedule(peerId) }
    }
    for (const [peerId, seen] of [...this.members]) {
      if (this.now() - seen > this.options.memberForMs && !this.host.isConnected(peerId)) { this.forget(peerId) }
    }
    this.provide()
    await this.refill()
  }

  /** One provide at a time, in the background: a slow DHT walk must not hold the refill up. */
  private provide (): void {
    const every = this.provided ? this.options.dhtQueryMs : this.options.rendezvousMs
    if (this.providing != null || this.now() - this.lastProvide < every) { return }
    this.lastProvide = this.now()
    const controller = new AbortController()
    this.providing = controller
    const timeout = this.timers.set(() => { controller.abort() }, this.options.attemptTimeoutMs)
    this.host.provide(controller.signal)
      .then(stored => { if (stored > 0) { this.provided = true } })
      .catch(err => { this.host.log('providing the member rendezvous failed - %e', err) })
      .finally(() => {
        this.timers.clear(timeout)
        this.providing = undefined
      })
  }

  /** Runs one bounded DHT lookup under the attempt deadline; failures count as no answer. */
  private async lookup (what: string, query: (signal: AbortSignal) => Promise<string[]>): Promise<string[]> {
    const controller = new AbortController()
    this.dhtQuery = controller
    const timeout = this.timers.set(() => { controller.abort() }, this.options.attemptTimeoutMs)
    try {
      return await query(controller.signal)
    } catch (err) {
      this.host.log('%s for members failed - %e', what, err)
      return []
    } finally {
      this.timers.clear(timeout)
      this.dhtQuery = undefined
    }
  }

  private async refill (): Promise<void> {
    const deficit = this.options.targetMembers - this.host.authenticatedCount() - this.refilling.size
    if (deficit <= 0) { return }
    const room = Math.min(deficit, this.options.maxRefillDials - this.refilling.size)
    if (room <= 0) { return }
    let picked = this.pick(await this.host.candidates(room * 4), room)
    if (picked.length < room && this.now() - this.lastRendezvous >= this.options.rendezvousMs) {
      this.lastRendezvous = this.now()
      const found = await this.lookup('DHT rendezvous', async (signal) => this.host.rendezvous(signal))
      picked = [...picked, ...this.pick(found.filter(p => !picked.includes(p)), room - picked.length)]
    }
    if (picked.length < room && this.now() - this.lastDhtQuery >= this.options.dhtQueryMs) {
      this.lastDhtQuery = this.now()
      const found = await this.lookup('DHT query', async (signal) => this.host.closestPeers(signal))
      picked = [...picked, ...this.pick(found.filter(p => !picked.includes(p)), room - picked.length)]
    }
    for (const peerId of picked) { this.refillDial(peerId) }
  }

  private pick (candidates: string[], n: number): string[] {
    const out: string[] = []
    for (const peerId of candidates) {
      if (out.length >= n) { break }
      if (this.refilling.has(peerId) || this.retries.has(peerId) || this.host.isConnected(peerId) || this.host.blockedUntil(peerId) != null) { continue }
      out.push(peerId)
    }
    return out
  }

  private refillDial (peerId: string): void {
    if (!this.running) { return }
    this.refilling.add(peerId)
    this.counts.refillDials++
    const controller = new AbortController()
    const deadline = this.attemptDeadline(peerId, controller)
    this.host.dial(peerId, controller.signal)
      .catch(err => { this.host.log('refill dial of %s failed - %e', peerId, err) })
      .finally(() => {
        deadline.clear()
        this.refilling.delete(peerId)
      })
  }

  /** Least recently seen members beyond `maxMembers` lose their tag and their redial. */
  private evict (): void {
    for (const peerId of this.members.keys()) {
      if (this.members.size <= this.options.maxMembers) { break }
      if (this.host.isConnected(peerId)) { continue }
      this.forget(peerId)
    }
  }
}
