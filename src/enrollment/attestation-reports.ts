import { EnrollmentError } from './errors.ts'
import type { RevocationReason } from '../pki/revocation-reasons.ts'

/**
 * What the CA does with `POST /v1/attestation-failures`: a member reports that a peer failed
 * its attestation. Every report is written to the audit log. With
 * `attestation.revoke_on_reported_failure` on in ca.json (off by default), the reported node_id is
 * revoked once `reporters_to_revoke` DISTINCT node_ids have reported it, within
 * `report_window_seconds`, with a code that speaks about the device (below).
 *
 * Why distinct reporters rather than one report, or re-verifying evidence at the CA: a report is
 * only a claim, and the reporter chose the nonce, the PCR selection and the verdict. One
 * malicious member could otherwise get any honest node revoked by reporting it; re-verifying a
 * quote at the CA would not help either, since the reporter can ask an honest prover for a
 * selection the policy does not cover and forward a quote that fails the CA's check. Requiring
 * several distinct members (at least 2, 3 by default) means an attacker must hold that many
 * member certificates (each one enrolled, each one revocable and audited) to revoke one node.
 * Codes that describe the network rather than the device (TIMEOUT, CLOSED, RATE_LIMITED,
 * PENDING_TIMEOUT, PROVER_FAILED, ...) are logged and never counted, so honest peers of a node
 * behind a bad link do not add up to its revocation.
 */

/** ca.json `attestation` section, as this feature reads it. */
export interface AttestationReportConfig {
  /** Whether reports can revoke at all. @default false */
  revoke_on_reported_failure: boolean
  /** Distinct reporting node_ids needed. @default 3 (at least 2: one member alone never revokes) */
  reporters_to_revoke: number
  /** How long a report counts, seconds. @default 3600 */
  report_window_seconds: number
  /** Reports one client identity may send per minute. @default 20 */
  reports_per_minute: number
}

export const ATTESTATION_REPORT_DEFAULTS: Readonly<AttestationReportConfig> = {
  revoke_on_reported_failure: false,
  reporters_to_revoke: 3,
  report_window_seconds: 3600,
  // A node reports a peer at most once per failed check (one an hour per peer by default); 20 a
  // minute covers a node whose many peers fail at once, and bounds what one client can write.
  reports_per_minute: 20
}

/** Codes that say the device's evidence failed the policy; only these count towards revocation. */
export const DEVICE_FAILURE_CODES: ReadonlySet<string> = new Set([
  'MALFORMED_EVIDENCE', 'UNSUPPORTED_ALGORITHM', 'BAD_MAGIC', 'BAD_TYPE', 'BAD_SIGNATURE', 'NONCE_MISMATCH',
  'PCR_SELECTION_MISMATCH', 'PCR_DIGEST_MISMATCH', 'PCR_MISSING', 'PCR_NOT_ALLOWED', 'REPLAYED',
  'AK_NOT_RESTRICTED', 'AK_NOT_BOUND_TO_EK', 'AK_MISMATCH', 'EK_MISSING', 'NONE_NOT_ALLOWED', 'DOWNGRADED'
])

/** The revocation reason written to the CRL: the node's device is no longer trusted. */
const REASON: RevocationReason = 'privilegeWithdrawn'

/** node_ids with live reports, and clients with a rate window: each map is bounded by this. */
const MAX_TRACKED = 10_000

/** Parses ca.json's `attestation` section (absent: defaults); throws RangeError on a bad value. */
export function attestationReportConfig (caConfig: unknown): AttestationReportConfig {
  const raw = (caConfig as { attestation?: unknown } | null)?.attestation
  if (raw == null) { return { ...ATTESTATION_REPORT_DEFAULTS } }
  if (typeof raw !== 'object' || Array.isArray(raw)) { throw new RangeError('ca.json attestation must be an object') }
  const c = { ...ATTESTATION_REPORT_DEFAULTS, ...(raw as Partial<AttestationReportConfig>) }
  if (typeof c.revoke_on_reported_failure !== 'boolean') { throw new RangeError('ca.json attestation.revoke_on_reported_failure must be true or false') }
  const int = (v: unknown, min: number, max: number, name: string): void => {
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) { throw new RangeError(`ca.json attestation.${name} must be a whole number in [${min}, ${max}]`) }
  }
  int(c.reporters_to_revoke, 2, 1000, 'reporters_to_revoke')
  int(c.report_window_seconds, 60, 30 * 86400, 'report_window_seconds')
  int(c.reports_per_minute, 1, 10_000, 'reports_per_minute')
  return c
}

/** One report, as the route hands it over (reporter from the mutual-TLS identity). */
export interface AttestationFailureReport {
  reporterNodeId: string
  reporterSerial: string
  nodeId: string
  serialHex: string
  code: string
}

export interface ReportOutcome {
  /** The code counts towards revocation (a device failure). */
  counted: boolean
  /** Distinct reporters within the window, this one included. */
  reporters: number
  revoked: boolean
}

export interface AttestationReportDeps {
  config: AttestationReportConfig
  /** node_id of a serial this CA issued, or undefined. */
  nodeOfSerial(serialHex: string): Promise<string | undefined>
  isNodeRevoked(nodeId: string): Promise<boolean>
  revokeNode(nodeId: string, reason: RevocationReason, now: Date): Promise<void>
  audit(now: number, action: string, fields: Record<string, string | number | boolean | null>): Promise<void>
}

/** Counts reports per reported node_id and revokes when the ca.json policy says so. */
export class AttestationFailureReports {
  readonly config: AttestationReportConfig
  readonly #deps: AttestationReportDeps
  /** reported node_id -> reporter node_id -> time of its last counted report. */
  readonly #reports = new Map<string, Map<string, number>>()
  /** reporter node_id -> [window start, count]. */
  readonly #rate = new Map<string, [number, number]>()

  constructor (deps: AttestationReportDeps) {
    this.#deps = deps
    this.config = deps.config
  }

  /** Throws EnrollmentError RATE_LIMITED, UNKNOWN_SERIAL or INVALID_REQUEST; nothing recorded then. */
  async report (r: AttestationFailureReport, now: Date): Promise<ReportOutcome> {
    const t = now.getTime()
    this.#limit(r.reporterNodeId, t)
    // [REJECT] the reported certificate is one this CA issued to that node_id: no made-up targets
    const owner = await this.#deps.nodeOfSerial(r.serialHex)
    if (owner == null) { throw new EnrollmentError('UNKNOWN_SERIAL') }
    if (owner !== r.nodeId) { throw new EnrollmentError('INVALID_REQUEST') }
    const counted = DEVICE_FAILURE_CODES.has(r.code) && r.reporterNodeId !== r.nodeId
    let reporters = 0
    if (counted) {
      const windowMs = this.config.report_window_seconds * 1000
      let byReporter = this.#reports.get(r.nodeId)
      if (byReporter == null) {
        byReporter = new Map()
        this.#reports.set(r.nodeId, byReporter)
        if (this.#reports.size > MAX_TRACKED) { this.#reports.delete(this.#reports.keys().next().value as string) }
      }
      byReporter.set(r.reporterNodeId, t)
      for (const [who, at] of byReporter) { if (t - at > windowMs) { byReporter.delete(who) } }
      reporters = byReporter.size
    }
    const due = counted && this.config.revoke_on_reported_failure && reporters >= this.config.reporters_to_revoke
    await this.#deps.audit(t, 'attestation-failure-report', {
      reporter: r.reporterNodeId, reporter_serial: r.reporterSerial, node_id: r.nodeId, serial: r.serialHex, code: r.code, counted, reporters
    })
    let revoked = false
    if (due && !await this.#deps.isNodeRevoked(r.nodeId)) {
      // The decision is logged before it is carried out: the revocation hands its CRL to the
      // mesh at once, and the audit log must already say why.
      await this.#deps.audit(t, 'attestation-failure-revoke', { node_id: r.nodeId, reporters })
      await this.#deps.revokeNode(r.nodeId, REASON, now)
      this.#reports.delete(r.nodeId)
      revoked = true
    }
    return { counted, reporters, revoked }
  }

  #limit (reporter: string, t: number): void {
    const w = this.#rate.get(reporter)
    if (w == null || t - w[0] >= 60_000) {
      this.#rate.delete(reporter)
      this.#rate.set(reporter, [t, 1])
      if (this.#rate.size > MAX_TRACKED) { this.#rate.delete(this.#rate.keys().next().value as string) }
      return
    }
    // [REJECT] more reports from one client identity than its share (per node_id, not address)
    if (w[1] >= this.config.reports_per_minute) { throw new EnrollmentError('RATE_LIMITED') }
    w[1]++
  }
}
