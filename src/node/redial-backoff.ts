/**
 * The delay before the next redial of a peer that dropped: exponential, capped, and jittered.
 *
 * The cap is what bounds the reconnect time after a link comes back (the longest a node waits
 * between two attempts), so it stays short; the jitter spreads the redials of a whole site that
 * lost its uplink at once, so they do not hit the bootstrap server or the NAT in one burst.
 * "Equal jitter": half the step is fixed, half random, so no attempt comes much sooner than the
 * step asks (a pure random delay could redial a refusing peer at once, again and again).
 */
export interface RedialPolicy {
  /** Step of the first redial, ms. */
  initialMs: number
  /** Each failed attempt multiplies the step by this. */
  factor: number
  /** The step never grows beyond this, ms: after a link returns, the next attempt is at most this far. */
  maxMs: number
}

/**
 * The delay of attempt `attempt` (0 for the first redial after a drop): a step of
 * min(maxMs, initialMs * factor^attempt), of which the second half is scaled by `random()` in [0, 1).
 */
export function redialDelay (attempt: number, policy: RedialPolicy, random: () => number = Math.random): number {
  // Bounded exponent: beyond ~60 steps the product is past any cap, and factor^attempt could overflow.
  const step = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.min(attempt, 64))
  const r = Math.min(Math.max(random(), 0), 1)
  return Math.round(step / 2 + (step / 2) * r)
}
