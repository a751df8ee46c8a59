/**
 * When a node renews its certificate, and how it backs off when the CA cannot be reached: pure
 * functions of the certificate, the policy and an injected random source, so tests pin them.
 */

/** The rotation tunables (structuredClone-safe). */
export interface RotationPolicy {
  /** Renew at this fraction of the certificate's lifetime (2/3 by default: a third of the life is left to retry in). */
  fraction: number
  /**
   * Spread the renewal EARLIER by up to this fraction of the lifetime, at random, so a fleet
   * enrolled at once does not renew at once; never later than `fraction`. 0.1 of 24 h: 2.4 h.
   */
  jitter: number
  /** First retry after a failed attempt, ms; doubles each time. */
  retryInitialMs: number
  /** Longest wait between attempts, ms (and the wait after a refusal). */
  retryMaxMs: number
  /** Each retry wait is spread by up to this fraction either way. */
  retryJitter: number
  /** How often the manager compares the clock with its deadlines, ms of real time. */
  tickMs: number
  /**
   * A verified rotate-now notice makes the node rotate within this many ms, at a random point,
   * so a fleet-wide notice does not hit the CA with every node in the same second.
   */
  rotateNowSpreadMs: number
}

/**
 * Defaults: 2/3 and a 10 % early spread (DESIGN.md "Rotate"). Retries from 5 s to 10
 * minutes, as the CRL poll (an unreachable CA is retried a few times an hour, not hammered).
 * The tick of 1 s makes deadlines hold to a second whatever the clock does (a suspended VM, a
 * test clock running fast). Rotate-now within 30 s: a small mesh tuned down meets 10 s plus a
 * rotation (test/daemon/lifecycle/rotate-now.spec.ts), and at 1,000 nodes about 33 rotations a second at
 * the CA, a tenth of what one core issues (bench/enroll.ts).
 */
export const ROTATION_DEFAULTS: RotationPolicy = {
  fraction: 2 / 3,
  jitter: 0.1,
  retryInitialMs: 5_000,
  retryMaxMs: 10 * 60_000,
  retryJitter: 0.2,
  tickMs: 1_000,
  rotateNowSpreadMs: 30_000
}

/** Checks a policy; throws RangeError naming the first bad field. */
export function checkRotationPolicy (p: RotationPolicy): RotationPolicy {
  if (!(p.fraction > 0 && p.fraction < 1)) { throw new RangeError('rotation fraction must be in (0, 1)') }
  if (!(p.jitter >= 0 && p.jitter < p.fraction)) { throw new RangeError('rotation jitter must be in [0, fraction)') }
  for (const k of ['retryInitialMs', 'retryMaxMs', 'tickMs'] as const) {
    if (!(Number.isFinite(p[k]) && p[k] > 0)) { throw new RangeError(`${k} must be positive`) }
  }
  if (!(p.retryJitter >= 0 && p.retryJitter < 1)) { throw new RangeError('retryJitter must be in [0, 1)') }
  if (!(p.rotateNowSpreadMs >= 0)) { throw new RangeError('rotateNowSpreadMs must not be negative') }
  return p
}

/** The clock time (ms) to renew a certificate valid from `notBefore` to `notAfter`. */
export function renewalTime (cert: { notBefore: number, notAfter: number }, p: Pick<RotationPolicy, 'fraction' | 'jitter'>, random: () => number): number {
  const lifetime = Math.max(0, cert.notAfter - cert.notBefore)
  return Math.round(cert.notBefore + lifetime * (p.fraction - p.jitter * random()))
}

/** Wait before attempt n+1 after `failures` failures in a row (>= 1), ms. */
export function retryDelay (failures: number, p: Pick<RotationPolicy, 'retryInitialMs' | 'retryMaxMs' | 'retryJitter'>, random: () => number): number {
  const base = Math.min(p.retryMaxMs, p.retryInitialMs * 2 ** Math.min(Math.max(failures, 1) - 1, 30))
  return Math.max(1, Math.round(base * (1 + p.retryJitter * (2 * random() - 1))))
}
