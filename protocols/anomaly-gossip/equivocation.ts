import type { AnomalyConflict } from './validate.ts'

/**
 * Equivocation reports: what a node remembers of origins that signed two versions of one
 * message_id, for the operator (node event, log line, listing). The validator decides what a
 * conflict is (both versions valid under the origin's certificate, see AnomalyConflict); this
 * class only bounds what the reports cost.
 *
 * An equivocating origin chooses how many versions it signs, and every version is a message of
 * its own for gossipsub, so each one reaches the validator once per node. What it must not be
 * able to do is flood the events and logs, or grow our memory. Hence:
 * - every conflict is counted (`conflicts`, and per origin), at the cost of one Map lookup;
 * - at most `maxReportsPerOrigin` reports per origin and window are raised; the rest are
 * counted as suppressed on the origin's entry (an operator learns the origin from the first
 * report, the volume from the listing);
 * - at most `maxOrigins` origins are tracked; when full, the one heard from least recently is
 * dropped (origins are certified members, so the bound is also the mesh's size);
 * - the recent reports are a ring of `maxRecent`.
 * The clock is passed in.
 */

/** One raised equivocation report. */
export interface EquivocationReport {
  /** The origin's node_id, as its certificate names it. */
  nodeId: string
  /** The PeerId its certificate binds (the certificate whose identity key delegated the key that signed both versions). */
  peerId: string
  messageId: string
  /** Digest (`envelopeDigest`) of the version we hold: the first we accepted. */
  heldDigest: string
  /** Digest of the version we refused. */
  conflictingDigest: string
  /** The peer that relayed the refused version to us. */
  relay: string
  /** Our clock, ms since the epoch. */
  at: number
}

/** What is known of one equivocating origin. */
export interface EquivocatingOrigin {
  nodeId: string
  peerId: string
  /** Conflicting versions refused from this origin (since it was first tracked). */
  conflicts: number
  /** Of those, how many were not raised as reports (over the per-origin limit). */
  suppressed: number
  firstAt: number
  lastAt: number
}

export interface EquivocationLimits {
  /** Reports raised per origin per window. @default 8 */
  maxReportsPerOrigin?: number
  /** The per-origin window, ms. @default 1 h */
  windowMs?: number
  /** Origins tracked at most. @default 1024 */
  maxOrigins?: number
  /** Recent reports kept for the listing. @default 256 */
  maxRecent?: number
}

/**
 * Defaults. 8 per hour: enough to see that an origin equivocates repeatedly (not a one-off race
 * on its side), few enough that a hostile origin adds at most 8 log lines an hour per node.
 * 1024 origins at about 200 bytes each, 256 reports at about 400 bytes: under half a megabyte.
 */
export const EQUIVOCATION_DEFAULTS: Required<EquivocationLimits> = Object.freeze({
  maxReportsPerOrigin: 8,
  windowMs: 60 * 60 * 1000,
  maxOrigins: 1024,
  maxRecent: 256
})

interface OriginState extends EquivocatingOrigin {
  windowStart: number
  raisedInWindow: number
}

export class EquivocationReports {
  readonly #limits: Required<EquivocationLimits>
  /** By node_id, least recently heard first (re-inserted on every conflict). */
  readonly #origins = new Map<string, OriginState>()
  readonly #recent: EquivocationReport[] = []
  #conflicts = 0

  constructor (limits: EquivocationLimits = {}) {
    this.#limits = { ...EQUIVOCATION_DEFAULTS, ...limits }
  }

  /** Conflicts noted in all (raised or suppressed). */
  get conflicts (): number {
    return this.#conflicts
  }

  /**
   * Notes one conflict at `now`; returns the report to raise, or undefined when the origin is
   * over its limit for the window (the conflict is still counted).
   */
  note (now: number, conflict: AnomalyConflict, relay: string): EquivocationReport | undefined {
    this.#conflicts++
    const { nodeId, peerId } = conflict.origin
    let s = this.#origins.get(nodeId)
    if (s == null) {
      if (this.#origins.size >= this.#limits.maxOrigins) {
        const oldest = this.#origins.keys().next()
        if (oldest.done !== true) { this.#origins.delete(oldest.value) }
      }
      s = { nodeId, peerId, conflicts: 0, suppressed: 0, firstAt: now, lastAt: now, windowStart: now, raisedInWindow: 0 }
    } else {
      this.#origins.delete(nodeId)
    }
    this.#origins.set(nodeId, s)
    s.conflicts++
    s.lastAt = now
    s.peerId = peerId
    if (now - s.windowStart >= this.#limits.windowMs || now < s.windowStart) {
      s.windowStart = now
      s.raisedInWindow = 0
    }
    if (s.raisedInWindow >= this.#limits.maxReportsPerOrigin) {
      s.suppressed++
      return undefined
    }
    s.raisedInWindow++
    const report: EquivocationReport = {
      nodeId,
      peerId,
      messageId: conflict.messageId,
      heldDigest: conflict.heldDigest,
      conflictingDigest: conflict.conflictingDigest,
      relay,
      at: now
    }
    this.#recent.push(report)
    if (this.#recent.length > this.#limits.maxRecent) { this.#recent.shift() }
    return report
  }

  /** Recent reports, newest last. */
  recent (): EquivocationReport[] {
    return this.#recent.map(r => ({ ...r }))
  }

  /** Origins tracked, most recently heard last. */
  origins (): EquivocatingOrigin[] {
    return [...this.#origins.values()].map(({ nodeId, peerId, conflicts, suppressed, firstAt, lastAt }) => ({ nodeId, peerId, conflicts, suppressed, firstAt, lastAt }))
  }
}
