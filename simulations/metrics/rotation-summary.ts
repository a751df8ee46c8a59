import { r3 } from './stats.ts'
import type { SimEvent } from './events.ts'

/** Certificate rotation figures of a run (scenario option `rotation`), from its events alone. */
export interface RotationFigures {
  clockSpeed: number
  certSeconds: number
  /** Run-clock seconds from the traffic phase's start to the end of the delivery window. */
  runClockSeconds: number
  rotations: { total: number, duringTraffic: number, nodesRotated: number, minPerNode: number, medianPerNode: number, maxPerNode: number }
  /**
   * Run-clock seconds the replaced certificate still had when its successor was installed: the
   * margin by which rotation beat expiry. On time it is a third of the lifetime or a little more
   * (renewal at 2/3, up to 10 % earlier); load that delays rotations shrinks it; below 0 the
   * certificate expired first. Minimum and median.
   */
  marginSeconds: { min: number | null, median: number | null }
  /** Rotation attempts that failed (the manager retries them): by `name:code` of the failure. */
  rotationFailures: { total: number, byCode: Record<string, number> }
  /** Re-auth passes after rotations: sessions moved onto the new certificate, and re-auths that failed. */
  reauth: { passes: number, ok: number, failed: number, maxPassMs: number | null }
  /** Retired identity keys deleted from the key stores once their certificates expired. */
  keysDeleted: number
  /** `peer:auth-failed` from the first node's start until the first node stops, by code (`CODE` or `CODE/chainCode`). */
  authFailures: { total: number, byCode: Record<string, number> }
  /** Sessions the auth service ended, by code. */
  sessionsEnded: { total: number, expired: number, byCode: Record<string, number> }
  /** Auth failures, failed re-auths and ended sessions that rotation explains (see `attributable`). */
  attributableToRotation: number
  /** Connections that closed between the traffic phase's start and the first node's stop. */
  connectionClosesDuringTraffic: number
}

/** Chain refusals a rotation can cause: a certificate out of its window, or not (yet) chaining to what the verifier knows. */
const ROTATION_CHAIN_CODES = new Set(['EXPIRED', 'NOT_YET_VALID', 'UNKNOWN_ISSUER', 'NAME_MISMATCH', 'IDENTITY_CHANGED'])
/** Auth codes a rotation can cause by itself (protocols/auth/errors.ts). */
const ROTATION_AUTH_CODES = new Set(['SESSION_EXPIRED', 'IDENTITY_CHANGED', 'LOCAL_CREDENTIALS', 'BAD_TRANSCRIPT_SIGNATURE'])

/**
 * Whether rotation explains an auth failure or an ended session. The rule, from the auth
 * protocol's codes: a session that outlived its certificate (SESSION_EXPIRED); a chain refused
 * because a certificate was outside its validity window or unknown to the verifier
 * (CHAIN_INVALID with EXPIRED, NOT_YET_VALID, UNKNOWN_ISSUER, NAME_MISMATCH); a re-auth naming
 * another identity (IDENTITY_CHANGED); our own credentials failing mid-swap (LOCAL_CREDENTIALS)
 * or a transcript signed by a key that does not match the chain presented
 * (BAD_TRANSCRIPT_SIGNATURE: key and certificate swapped apart). REMOTE_REJECTED counts when the
 * peer's reported code is one of those or CHAIN_INVALID (the peer does not say which chain rule,
 * and in a run without revocation or trust changes an expired or premature certificate is the
 * one cause rotation adds). TIMEOUT, CLOSED (dial races), PROTOCOL_UNSUPPORTED, REVOKED and the
 * rest are not rotation's. Every failed re-auth counts too: re-auths run only because of one.
 */
export function attributable (f: { code: string, chainCode?: string, remoteCode?: string }): boolean {
  if (ROTATION_AUTH_CODES.has(f.code)) { return true }
  if (f.code === 'CHAIN_INVALID') { return f.chainCode != null && ROTATION_CHAIN_CODES.has(f.chainCode) }
  if (f.code === 'REMOTE_REJECTED') { return f.remoteCode != null && (ROTATION_AUTH_CODES.has(f.remoteCode) || f.remoteCode === 'CHAIN_INVALID') }
  return false
}

type Ev<K extends SimEvent['e']> = Extract<SimEvent, { e: K }>

/** The rotation figures, or nothing when the run did not rotate (no `clock` event). */
export function rotationFigures (ev: SimEvent[], nodes: number): { rotation?: RotationFigures } {
  const clock = ev.find(e => e.e === 'clock') as Ev<'clock'> | undefined
  if (clock == null) { return {} }
  const of = <K extends SimEvent['e']>(k: K): Array<Ev<K>> => ev.filter(e => e.e === k) as Array<Ev<K>>
  const trafficStart = (ev.find(e => e.e === 'phase' && e.phase === 'traffic')?.t) ?? clock.fastFrom
  const windowEnd = (ev.find(e => e.e === 'window_end')?.t) ?? (ev.length > 0 ? ev[ev.length - 1].t : trafficStart)
  // Shards write node_stats just before they stop their nodes: closes after the first one are the run ending.
  const stops = of('node_stats').map(e => e.t)
  const cutoff = Math.min(windowEnd, ...stops)
  const at = (w: number): number => w < clock.fastFrom ? w : clock.fastFrom + (w - clock.fastFrom) * clock.speed

  const rotated = of('rotated')
  const perNode = Array.from({ length: nodes }, () => 0)
  for (const r of rotated) { if (r.n >= 0 && r.n < nodes) { perNode[r.n]++ } }
  const sorted = [...perNode].sort((a, b) => a - b)

  // Failures count until the first node stops: the run's end closes connections under re-auths
  // and handshakes in flight, which says nothing about rotation.
  const live = <E extends { t: number }>(xs: E[]): E[] => xs.filter(x => x.t < cutoff)
  const failures = live(of('rotation_failed'))
  const reauth = live(of('reauth'))
  const auth = live(of('auth_failed'))
  const ended = live(of('session_ended'))
  const reauthFailed = reauth.reduce((a, r) => a + r.failed, 0)
  const attributed = auth.filter(f => attributable(f)).length + ended.filter(s => attributable(s)).length + reauthFailed

  return {
    rotation: {
      clockSpeed: clock.speed,
      certSeconds: clock.certSeconds,
      runClockSeconds: r3((at(windowEnd) - at(trafficStart)) / 1000)!,
      rotations: {
        total: rotated.length,
        duringTraffic: rotated.filter(r => r.t >= trafficStart).length,
        nodesRotated: perNode.filter(x => x > 0).length,
        minPerNode: sorted[0] ?? 0,
        medianPerNode: sorted.length > 0 ? sorted[Math.floor((sorted.length - 1) / 2)] : 0,
        maxPerNode: sorted[sorted.length - 1] ?? 0
      },
      marginSeconds: margins(rotated),
      rotationFailures: { total: failures.length, byCode: countBy(failures.map(f => f.serverCode != null ? `${f.code}/${f.serverCode}` : f.code)) },
      reauth: { passes: reauth.length, ok: reauth.reduce((a, r) => a + r.ok, 0), failed: reauthFailed, maxPassMs: reauth.length > 0 ? Math.max(...reauth.map(r => r.ms)) : null },
      keysDeleted: of('key_deleted').length,
      authFailures: { total: auth.length, byCode: countBy(auth.map(f => codeOf(f))) },
      sessionsEnded: { total: ended.length, expired: ended.filter(s => s.code === 'SESSION_EXPIRED').length, byCode: countBy(ended.map(s => codeOf(s))) },
      attributableToRotation: attributed,
      connectionClosesDuringTraffic: of('conn_closed').filter(c => c.t >= trafficStart && c.t < cutoff).length
    }
  }
}

function margins (rotated: Array<Ev<'rotated'>>): RotationFigures['marginSeconds'] {
  const m = rotated.map(r => r.left / 1000).sort((a, b) => a - b)
  return { min: m.length > 0 ? r3(m[0]) : null, median: m.length > 0 ? r3(m[Math.floor((m.length - 1) / 2)]) : null }
}

function codeOf (f: { code: string, chainCode?: string, remoteCode?: string }): string {
  const detail = f.chainCode ?? f.remoteCode
  return detail != null ? `${f.code}/${detail}` : f.code
}

function countBy (keys: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const k of keys) { out[k] = (out[k] ?? 0) + 1 }
  return out
}
