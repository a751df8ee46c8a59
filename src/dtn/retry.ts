/**
 * Retry back-off for outbound bundles: exponential with "equal jitter" (half the capped delay
 * fixed, half random). Full jitter can draw ~0 and retry in a hot loop when many bundles fail
 * together; equal jitter keeps a floor of half the step while still spreading synchronized
 * retries (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015). Pure: clock and
 * randomness are passed in. A reconnect (peer:connect, auth success) bypasses the schedule.
 */
export interface RetryPolicy {
  /** First delay, ms. @default 1000 */
  baseMs: number
  /** Largest delay, ms. @default 300000 (5 min: a partition heals unnoticed no longer than this) */
  maxMs: number
  /** Growth per attempt. @default 2 */
  factor: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 1000, maxMs: 5 * 60_000, factor: 2 }

/** Delay (ms) before the next attempt, after `attempts` attempts made; `random` returns [0, 1). */
export function retryDelay (attempts: number, random: () => number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number {
  const n = Math.max(0, Math.min(Math.floor(attempts), 64))
  const cap = Math.min(policy.maxMs, policy.baseMs * Math.pow(policy.factor, n))
  let r = random()
  if (!(r >= 0 && r < 1)) { r = 0.5 } // a broken source of randomness must not break the schedule
  return Math.round(cap / 2 + r * (cap / 2))
}

/** When to try next: `now + retryDelay(attempts)`, never beyond `expiresAt` (an expired bundle is swept, not retried). */
export function nextAttemptAt (now: number, attempts: number, expiresAt: number, random: () => number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number {
  return Math.min(now + retryDelay(attempts, random, policy), expiresAt)
}
