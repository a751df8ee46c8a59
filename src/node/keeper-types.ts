import type { RedialPolicy } from './redial-backoff.ts'

/* What MemberKeeper is configured with, and what it needs of the node (keeper-host.ts adapts the mesh node). */

export interface KeepAliveOptions {
  /** Off: no redial, no refill (libp2p's single reconnect attempt and discovery dials remain). */
  enabled: boolean
  /** Authenticated members the node keeps; below this it dials more. 0: never dials for the count. */
  targetMembers: number
  /** Members remembered for redial at most (each costs one timer while it is away). */
  maxMembers: number
  /** How long after its drop a member is still redialled, ms. */
  memberForMs: number
  /** Back-off between redials of one peer. */
  redial: RedialPolicy
  /** Deadline of one redial or refill dial to get a connection open, ms; one already open gets as long again for auth. */
  attemptTimeoutMs: number
  /** Period of the target check, ms. */
  checkMs: number
  /** Least time between two DHT queries for more members, ms. */
  dhtQueryMs: number
  /** Least time between two rendezvous lookups (and provides, until one is stored), ms. */
  rendezvousMs: number
  /** Dials the refill runs at once. */
  maxRefillDials: number
}

/** What the keeper needs of a node: the mesh node's adapter is in keeper-host.ts. */
export interface KeeperHost {
  isStarted(): boolean
  /** The peer has an open connection (authenticated or still authenticating). */
  isConnected(peerId: string): boolean
  /** Peers with an authenticated connection now. */
  authenticatedCount(): number
  /** Clock time the peer's block ends (Infinity: revoked), or undefined when it is not blocked. */
  blockedUntil(peerId: string): number | undefined
  /** Dials and waits for mutual auth; rejects on failure or when `signal` aborts. */
  dial(peerId: string, signal: AbortSignal): Promise<void>
  /** Adds the keep-alive tag (and `addrs` to the peer store, for bootstrap peers). */
  tag(peerId: string, kind: 'bootstrap' | 'member', addrs?: string[]): Promise<void>
  untag(peerId: string, kind: 'bootstrap' | 'member'): Promise<void>
  /** Peers worth a dial for the target, not connected, best first, at most `limit`. */
  candidates(limit: number): Promise<string[]>
  /** Peers a DHT query finds near us (none without a DHT). */
  closestPeers(signal: AbortSignal): Promise<string[]>
  /** Members the DHT names as providers of the rendezvous key, bounded (none without a DHT). */
  rendezvous(signal: AbortSignal): Promise<string[]>
  /** Provides the rendezvous key; resolves to how many DHT servers stored the record. */
  provide(signal: AbortSignal): Promise<number>
  log(message: string, ...args: unknown[]): void
}

/** One-shot timers, unref'd: the real ones unless a test passes its own. */
export interface KeeperTimers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

export const REAL_TIMERS: KeeperTimers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clear: (h) => { clearTimeout(h as NodeJS.Timeout) }
}

export interface KeeperStats {
  bootstrap: number
  members: number
  scheduled: number
  redials: number
  refillDials: number
}

export interface MemberKeeperInit {
  host: KeeperHost
  options: KeepAliveOptions
  /** Bootstrap multiaddrs, each with /p2p/<PeerId>. */
  bootstrap: string[]
  /** The clock, ms. */
  now(): number
  /** [0, 1); @default Math.random */
  random?(): number
  /** @default REAL_TIMERS */
  timers?: KeeperTimers
}
