/* eslint-disable jsdoc/check-indentation -- doc comments here hold indented lists and diagrams */
import { REAUTH_LEAD_FRACTION, REAUTH_MAX_LEAD_MS } from './constants.ts'

/**
 * The session watch's decision for one authenticated connection, as a pure function of the clock
 * and the certificate the session rests on (Nebula `handshake/machine.go` style, like verifyAuth).
 *
 * - `expired`: the certificate's notAfter has passed and no re-auth replaced it: end the session.
 * - `refresh`: the end is near (REAUTH_LEAD_FRACTION of the lifetime left, at most
 *   REAUTH_MAX_LEAD_MS) and we have not asked lately: start a re-auth, so the peer presents its
 *   current (rotated) certificate. A peer that rotated pushes its re-auth by itself; this only
 *   catches a push that was lost.
 * - `ok`: nothing to do.
 */
export type SessionAction = 'expired' | 'refresh' | 'ok'

export interface WatchedSession {
  notBefore: number
  notAfter: number
  /** Clock time (ms) the watch last asked this peer for a re-auth. */
  refreshAskedAt?: number
}

export interface SessionWatchOptions {
  /** @default REAUTH_LEAD_FRACTION */
  leadFraction?: number
  /** @default REAUTH_MAX_LEAD_MS */
  maxLeadMs?: number
}

/** How long before notAfter the watch starts asking for a re-auth. */
export function refreshLeadMs (s: WatchedSession, options: SessionWatchOptions = {}): number {
  const lifetime = Math.max(0, s.notAfter - s.notBefore)
  return Math.min(options.maxLeadMs ?? REAUTH_MAX_LEAD_MS, lifetime * (options.leadFraction ?? REAUTH_LEAD_FRACTION))
}

/** What to do with one session at `now` (ms). */
export function sessionAction (now: number, s: WatchedSession, options: SessionWatchOptions = {}): SessionAction {
  // X.509 times have one-second resolution and notAfter itself is still valid (RFC 5280 §4.1.2.5).
  if (now > s.notAfter) { return 'expired' }
  const lead = refreshLeadMs(s, options)
  if (now < s.notAfter - lead) { return 'ok' }
  // Ask again a few times within the lead window, not on every tick.
  if (s.refreshAskedAt != null && now - s.refreshAskedAt < lead / 4) { return 'ok' }
  return 'refresh'
}
