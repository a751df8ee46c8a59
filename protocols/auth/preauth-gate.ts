import { failureOf } from './connection-auth.ts'
import { AuthError } from './errors.ts'
import { refuseSelect } from './pipelined-select.ts'
import type { AuthContext } from './auth-context.ts'
import type { ConnectionAuth } from './connection-auth.ts'

/**
 * The pre-auth caps applied to an inbound connection as its auth begins (the counting and the
 * back-off are preauth-limits.ts): a connection is admitted as waiting for auth, or turned away,
 * and room is made by closing others.
 */

/**
 * Counts an inbound connection as waiting for auth, or turns it away: its source is backed off
 * or holds its share already. Makes room by closing the oldest waiting connection of the
 * heaviest source when the caps are reached.
 */
export function admitInbound (ctx: AuthContext, state: ConnectionAuth): void {
  const c = state.connection
  const connections = ctx.components.connectionManager.getConnections()
  const max = ctx.init.maxConnections ?? ctx.components.connectionManager.getMaxConnections?.() ?? Infinity
  const { refused, evict } = ctx.preauth.admit(c.id, c.remoteAddr.toString(), connections.length, max)
  if (refused != null) {
    turnAway(ctx, state, new AuthError(refused, `connection from ${c.remoteAddr.toString()} refused before auth: ${refused}`))
    return
  }
  for (const id of evict) {
    const victim = ctx.states.get(id)
    if (victim != null) { turnAway(ctx, victim, new AuthError('PREAUTH_PRUNED', 'closed to make room while the connections waiting for auth are at their cap')) }
  }
}

/**
 * Closes a connection waiting for auth on the limiter's word. Not an auth failure of its
 * PeerId (reported as 'preauth:refused', not 'peer:auth-failed', so no PeerId back-off: a
 * member pruned under a flood may dial again at once); a pruned source earns a strike.
 */
function turnAway (ctx: AuthContext, state: ConnectionAuth, err: AuthError): void {
  if (state.outcome != null) { return }
  clearTimeout(state.timer)
  state.outcome = err
  state.controller.abort(err)
  state.reject(err)
  ctx.preauth.release(state.connection.id)
  refuseHeld(state, err)
  const c = state.connection
  if (err.code === 'PREAUTH_PRUNED') { ctx.preauth.strike(c.remoteAddr.toString()) }
  ctx.results?.increment({ [err.code]: true })
  ctx.log('connection %s from %a closed before auth: %s', c.id, c.remoteAddr, err.code)
  ctx.emit('preauth:refused', { ...failureOf(state, err), pendingNow: ctx.preauth.pending })
  if (c.status === 'open') { c.abort(err) }
}

/** The streams held for the verdict get "na" (the connection is refused). */
export function refuseHeld (state: ConnectionAuth, err: AuthError): void {
  for (const { stream, request } of (state.held ?? []).splice(0)) { refuseSelect(stream, request, err) }
}
