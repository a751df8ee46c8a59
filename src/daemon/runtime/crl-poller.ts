import { fetchCrl } from './crl-fetch.ts'
import type { CrlManager, CrlOfferResult } from './crl-manager.ts'

/** Tunables of the CRL poll. */
export interface CrlPollerOptions {
  /**
   * Between successful polls, ms. 60 s: the CA lets caches reuse a CRL for at most 60 s
   * (`CRL_MAX_AGE_S` of the enrollment service), and a 304 costs the CA no body.
   */
  intervalMs: number
  /** Deadline of one request, ms. */
  timeoutMs: number
  /** Largest CRL body read (the parser's own ceiling is 8 MiB). */
  maxBytes: number
  /** After the n-th failure in a row, wait min(maxMs, initialMs * 2^(n-1)). */
  backoffInitialMs: number
  backoffMaxMs: number
  /** Each wait is spread by up to this fraction either way, so a fleet does not poll in step. */
  jitter: number
}

export const CRL_POLLER_DEFAULTS: CrlPollerOptions = {
  intervalMs: 60_000,
  timeoutMs: 10_000,
  // 4 MiB: about 50k revoked entries, far more than a mesh of short-lived certificates produces.
  maxBytes: 4 * 1024 * 1024,
  backoffInitialMs: 5_000,
  // Ten minutes at most: an unreachable CA is retried a few times an hour, not hammered.
  backoffMaxMs: 10 * 60_000,
  jitter: 0.1
}

export type CrlPollOutcome = CrlOfferResult | { status: 'not-modified' }

export interface CrlPollerInit {
  url: string
  /** The mesh root(s), PEM: the TLS pin; a function is read per poll (a trust bundle may change them). */
  caPem: string | (() => string)
  manager: CrlManager
  options?: Partial<CrlPollerOptions>
  /** Called after each poll, with its outcome or error, and the wait until the next. */
  onPoll?(result: { outcome?: CrlPollOutcome, error?: unknown, failures: number, nextInMs: number }): void
  /** @default Math.random */
  random?(): number
}

/**
 * Fetches the CA's CRL every `intervalMs` (conditional on the ETag held, with a deadline and a
 * body limit), backs off exponentially while it fails, and offers what it gets to the
 * CrlManager, which verifies, installs, persists and enforces it. `stop` aborts a request in
 * flight, so a stopping node never waits out a deadline.
 */
export class CrlPoller {
  readonly options: CrlPollerOptions
  private readonly init: CrlPollerInit
  private timer: NodeJS.Timeout | undefined
  private running = false
  private inFlight: Promise<unknown> | undefined
  private abort: AbortController | undefined
  private failureCount = 0

  constructor (init: CrlPollerInit) {
    this.init = init
    this.options = { ...CRL_POLLER_DEFAULTS, ...init.options }
  }

  /** Failures in a row since the last success. */
  get failures (): number {
    return this.failureCount
  }

  /** Polls at once, then on the schedule. Idempotent. */
  start (): void {
    if (this.running) { return }
    this.running = true
    this.schedule(0)
  }

  /** Stops the schedule and aborts a poll in flight. Idempotent. */
  async stop (): Promise<void> {
    this.running = false
    if (this.timer != null) { clearTimeout(this.timer) }
    this.timer = undefined
    this.abort?.abort()
    await this.inFlight?.catch(() => {})
  }

  /** One poll: fetch (conditional), then offer a fetched CRL to the manager. Throws CrlFetchError or ChainValidationError. */
  async pollOnce (): Promise<CrlPollOutcome> {
    const { url, manager } = this.init
    const caPem = typeof this.init.caPem === 'function' ? this.init.caPem() : this.init.caPem
    this.abort = new AbortController()
    const etag = manager.etagFor(url)
    const fetched = await fetchCrl(url, {
      caPem,
      timeoutMs: this.options.timeoutMs,
      maxBytes: this.options.maxBytes,
      signal: this.abort.signal,
      ...(etag != null ? { etag } : {})
    })
    if (fetched.status === 'not-modified') { return fetched }
    return manager.offer(fetched.der, { source: 'fetch', url, ...(fetched.etag != null ? { etag: fetched.etag } : {}) })
  }

  private schedule (delayMs: number): void {
    if (!this.running) { return }
    this.timer = setTimeout(() => {
      this.timer = undefined
      const run = this.pollOnce().then(
        outcome => { this.failureCount = 0; this.report({ outcome }) },
        error => { this.failureCount++; this.report({ error }) }
      )
      this.inFlight = run
      void run.finally(() => { if (this.inFlight === run) { this.inFlight = undefined } })
    }, delayMs)
    // The poll never keeps a process alive on its own: the node's listeners do.
    this.timer.unref()
  }

  private report (r: { outcome?: CrlPollOutcome, error?: unknown }): void {
    const o = this.options
    const base = this.failureCount === 0 ? o.intervalMs : Math.min(o.backoffMaxMs, o.backoffInitialMs * 2 ** Math.min(this.failureCount - 1, 30))
    const spread = 1 + o.jitter * (2 * (this.init.random ?? Math.random)() - 1)
    const nextInMs = Math.max(1, Math.round(base * spread))
    if (this.running) { this.init.onPoll?.({ ...r, failures: this.failureCount, nextInMs }) }
    this.schedule(nextInMs)
  }
}
