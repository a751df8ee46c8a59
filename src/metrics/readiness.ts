/**
 * Readiness as `/readyz` reports it: a list of named checks, ready when all pass. Each check says
 * in `detail` what it saw, so a probe failure in a log or a `curl` tells the operator why.
 */

export interface ReadinessCheck {
  /** Short, stable name (`certificate`, `crl`, `members`, `ca_key`, `store`). */
  name: string
  ok: boolean
  /** What was seen, for a human (never a secret). */
  detail: string
}

export interface ReadinessReport {
  ready: boolean
  checks: ReadinessCheck[]
}

/** Ready when every check passes. */
export function readinessReport (checks: ReadinessCheck[]): ReadinessReport {
  return { ready: checks.every(c => c.ok), checks }
}
