import { liveSession } from './auth-context.ts'
import { sessionOf, verifierRefusal } from './connection-auth.ts'
import { AuthError } from './errors.ts'
import { sessionAction } from './session-watch.ts'
import type { AuthContext } from './auth-context.ts'
import type { ConnectionAuth } from './connection-auth.ts'
import type { AuthenticatedPeer, SessionEnded } from './types.ts'
import type { AbortOptions, Connection } from '@libp2p/interface'

/**
 * Keeps live sessions honest after their first exchange: the periodic watch (end expired
 * sessions, ask peers near their end for a re-auth; the decision is session-watch.ts) and the
 * revalidation of every session's chain when the trust anchors or CRLs change.
 */
export class SessionUpkeep {
  private readonly ctx: AuthContext
  private readonly reauthenticate: (connection: Connection, options?: AbortOptions) => Promise<AuthenticatedPeer>

  constructor (ctx: AuthContext, reauthenticate: (connection: Connection, options?: AbortOptions) => Promise<AuthenticatedPeer>) {
    this.ctx = ctx
    this.reauthenticate = reauthenticate
  }

  async revalidateSessions (): Promise<{ checked: number, closed: number }> {
    const ctx = this.ctx
    let checked = 0
    let closed = 0
    for (const state of [...ctx.states.values()]) {
      const peer = liveSession(ctx, state)
      if (peer == null || state.chain == null) { continue }
      checked++
      const now = ctx.now()
      let refusal: { code: 'CHAIN_INVALID' | 'REVOKED' | 'NO_CERTIFICATE', chainCode?: string } | undefined
      try {
        const identity = await ctx.init.verifier.verify(new Date(now), state.chain)
        if (ctx.init.isRevoked?.(identity) === true) { refusal = { code: 'REVOKED' } }
      } catch (err: any) {
        refusal = verifierRefusal(err)
      }
      // The session may have been re-authenticated while we verified: judge only what we checked.
      if (refusal != null && sessionOf(state) === peer) {
        this.endSession(state, peer, new AuthError(refusal.code, 'session certificate no longer verifies', refusal.chainCode != null ? { chainCode: refusal.chainCode } : {}))
        closed++
      }
    }
    return { checked, closed }
  }

  /** One pass of the session watch: end expired sessions, ask peers near their end for a re-auth. */
  watchSessions (): void {
    const ctx = this.ctx
    const now = ctx.now()
    const options = ctx.init.reauthLeadFraction != null ? { leadFraction: ctx.init.reauthLeadFraction } : {}
    for (const state of [...ctx.states.values()]) {
      const peer = sessionOf(state)
      if (peer == null) { continue }
      const action = sessionAction(now, { notBefore: peer.notBefore, notAfter: peer.notAfter, ...(state.refreshAskedAt != null ? { refreshAskedAt: state.refreshAskedAt } : {}) }, options)
      if (action === 'expired') {
        this.endSession(state, peer, new AuthError('SESSION_EXPIRED', `the certificate of ${peer.nodeId} expired and was not replaced`))
      } else if (action === 'refresh') {
        state.refreshAskedAt = now
        this.reauthenticate(state.connection).catch((err: Error) => { ctx.log('refresh re-auth of %p failed - %e', state.connection.remotePeer, err) })
      }
    }
  }

  /** Ends an authenticated session: the connection closes and listeners hear why (no back-off: not a failed handshake). */
  private endSession (state: ConnectionAuth, peer: AuthenticatedPeer, err: AuthError): void {
    const ctx = this.ctx
    state.outcome = err
    ctx.states.delete(state.connection.id)
    ctx.results?.increment({ [`SESSION_${err.code}`]: true })
    const ended: SessionEnded = { peerId: peer.peerId, nodeId: peer.nodeId, connectionId: peer.connectionId, serialHex: peer.serialHex, code: err.code, ...(err.chainCode != null ? { chainCode: err.chainCode } : {}) }
    ctx.log.error('session with %p node_id=%s serial=%s ended: %s', state.connection.remotePeer, peer.nodeId, peer.serialHex, err.code)
    ctx.emit('session:ended', ended)
    if (state.connection.status === 'open') { state.connection.abort(err) }
  }
}
