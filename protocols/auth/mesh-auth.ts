import { serviceCapabilities, TypedEventEmitter } from '@libp2p/interface'
import { raceAbort } from '../../src/util/race-abort.ts'
import { liveSession } from './auth-context.ts'
import { DEFAULT_DEADLINE_MS, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, PROTOCOL, REAUTH_MAX_INBOUND_STREAMS, REAUTH_MAX_OUTBOUND_STREAMS, REAUTH_PROTOCOL, REPLAY_CACHE_SIZE, REPLAY_CACHE_TTL_MS, SESSION_CHECK_MS } from './constants.ts'
import { AuthError } from './errors.ts'
import { FirstExchange } from './first-exchange.ts'
import { guardRegisteredProtocols, requireAuthenticated } from './guard.ts'
import { authStreamOpener } from './libp2p-stream-opener.ts'
import { PreauthLimiter } from './preauth-limits.ts'
import { Reauth } from './reauth.ts'
import { ReplayCache } from './replay-cache.ts'
import { SessionUpkeep } from './session-upkeep.ts'
import type { AuthContext } from './auth-context.ts'
import type { ConnectionAuth } from './connection-auth.ts'
import type { PreauthRefusal } from './preauth-limits.ts'
import type { AuthStreamPaths } from './stream-opener.ts'
import type { AuthenticatedPeer, MeshAuth, MeshAuthComponents, MeshAuthEvents, MeshAuthInit } from './types.ts'
import type { AbortOptions, Connection, StreamHandler } from '@libp2p/interface'

/**
 * See `meshAuth()` in index.ts; the class is exported for tests that build it with stub
 * components. It holds the service's lifecycle and its public answers; the work is in three
 * parts that share one `AuthContext`: the first exchange (first-exchange.ts), re-auth
 * (reauth.ts) and the upkeep of live sessions (session-upkeep.ts).
 */
export class DefaultMeshAuth extends TypedEventEmitter<MeshAuthEvents> implements MeshAuth {
  readonly protocol = PROTOCOL
  readonly [serviceCapabilities] = ['@dadm-mesh/auth']
  private readonly ctx: AuthContext
  private readonly states = new Map<string, ConnectionAuth>()
  private readonly first: FirstExchange
  private readonly reauth: Reauth
  private readonly upkeep: SessionUpkeep
  private running = false
  private watch?: ReturnType<typeof setInterval>

  constructor (components: MeshAuthComponents, init: MeshAuthInit) {
    super()
    const now = init.now ?? Date.now
    const streams = init.streams ?? authStreamOpener()
    streams.attach(components)
    this.ctx = {
      components,
      init,
      log: components.logger.forComponent('dadm-mesh:auth'),
      deadlineMs: init.deadlineMs ?? DEFAULT_DEADLINE_MS,
      now,
      preauth: init.preauth instanceof PreauthLimiter ? init.preauth : new PreauthLimiter(init.preauth ?? {}, now),
      replay: new ReplayCache(init.replayCacheSize ?? REPLAY_CACHE_SIZE, init.replayCacheTtlMs ?? REPLAY_CACHE_TTL_MS),
      states: this.states,
      ...(components.metrics != null ? { results: components.metrics.registerCounterGroup('dadm_mesh_auth_results_total', { label: 'code' }) } : {}),
      streams,
      emit: (type, detail) => { this.safeDispatchEvent(type, { detail }) },
      running: () => this.running
    }
    this.first = new FirstExchange(this.ctx)
    this.reauth = new Reauth(this.ctx)
    this.upkeep = new SessionUpkeep(this.ctx, async (connection, options) => this.reauth.reauthenticate(connection, options))
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
    this.onConnectionClose = this.onConnectionClose.bind(this)
  }

  readonly [Symbol.toStringTag] = '@dadm-mesh/auth'

  async start (): Promise<void> {
    if (this.running) { return }
    this.running = true
    const { registrar, events, connectionManager } = this.ctx.components
    // Both run on limited (relayed) connections too: members behind NAT reach each other only
    // through a member relay, and auth is what makes such a connection usable at all.
    await registrar.handle(PROTOCOL, (stream, connection) => this.first.onInboundStream(stream, connection), {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS,
      runOnLimitedConnection: true
    })
    await registrar.handle(REAUTH_PROTOCOL, (stream, connection) => this.reauth.onReauthStream(stream, connection), {
      maxInboundStreams: REAUTH_MAX_INBOUND_STREAMS,
      maxOutboundStreams: REAUTH_MAX_OUTBOUND_STREAMS,
      runOnLimitedConnection: true
    })
    const every = this.ctx.init.sessionCheckMs ?? SESSION_CHECK_MS
    if (every > 0) {
      this.watch = setInterval(() => { this.upkeep.watchSessions() }, every)
      this.watch.unref?.()
    }
    events.addEventListener('connection:open', this.onConnectionOpen)
    events.addEventListener('connection:close', this.onConnectionClose)
    for (const connection of connectionManager.getConnections()) { this.first.track(connection) }
  }

  async afterStart (): Promise<void> {
    if (this.ctx.init.guardProtocols !== false) {
      const wrapped = await this.guardAll()
      this.ctx.log('guarding protocols %s', wrapped.join(', '))
    }
  }

  async stop (): Promise<void> {
    if (!this.running) { return }
    this.running = false
    clearInterval(this.watch)
    const { registrar, events } = this.ctx.components
    events.removeEventListener('connection:open', this.onConnectionOpen)
    events.removeEventListener('connection:close', this.onConnectionClose)
    for (const state of this.states.values()) {
      clearTimeout(state.timer)
      clearTimeout(state.closer)
      this.ctx.preauth.release(state.connection.id)
      if (state.outcome == null) {
        const err = new AuthError('CLOSED', 'node stopping')
        state.outcome = err
        state.controller.abort(err)
        state.reject(err)
      }
    }
    this.states.clear()
    await registrar.unhandle(PROTOCOL).catch(() => {})
    await registrar.unhandle(REAUTH_PROTOCOL).catch(() => {})
  }

  async waitForAuthentication (connection: Connection, options: AbortOptions = {}): Promise<AuthenticatedPeer> {
    const state = this.first.track(connection)
    try {
      if (options.signal == null) { await state.done } else { await raceAbort(state.done, options.signal) }
    } catch (err: any) {
      throw new AuthError('NOT_AUTHENTICATED', `peer ${connection.remotePeer.toString()} is not authenticated`, {}, { cause: err })
    }
    // The session as it stands at this moment: re-auth may have replaced it, or its certificate expired.
    const peer = liveSession(this.ctx, state)
    if (peer == null) { throw new AuthError('NOT_AUTHENTICATED', `the session with ${connection.remotePeer.toString()} has expired`) }
    return peer
  }

  getAuthenticated (connection: Connection | string): AuthenticatedPeer | undefined {
    return liveSession(this.ctx, this.states.get(typeof connection === 'string' ? connection : connection.id))
  }

  connectionOf (connectionId: string): Connection | undefined {
    return this.states.get(connectionId)?.connection
  }

  authenticatedConnections (): Array<{ connection: Connection, peer: AuthenticatedPeer }> {
    const out: Array<{ connection: Connection, peer: AuthenticatedPeer }> = []
    for (const state of this.states.values()) {
      const peer = liveSession(this.ctx, state)
      if (peer != null) { out.push({ connection: state.connection, peer }) }
    }
    return out
  }

  localSpkiOf (connection: Connection | string): Uint8Array | undefined {
    return this.states.get(typeof connection === 'string' ? connection : connection.id)?.localSpki
  }

  guard (handler: StreamHandler): StreamHandler {
    return requireAuthenticated(this, handler)
  }

  async guardAll (): Promise<string[]> {
    // Re-auth checks the session itself (and must answer even as its certificate nears its end).
    return guardRegisteredProtocols(this.ctx.components.registrar, this, [PROTOCOL, REAUTH_PROTOCOL, ...(this.ctx.init.exemptProtocols ?? [])])
  }

  /** Connections waiting for auth at this moment (all sources), and from `remoteAddr`'s source. */
  pendingAuth (remoteAddr?: string): { total: number, fromSource: number, refused: Record<PreauthRefusal, number> } {
    const preauth = this.ctx.preauth
    return { total: preauth.pending, fromSource: remoteAddr == null ? 0 : preauth.pendingFrom(remoteAddr), refused: { ...preauth.refused } }
  }

  streamPaths (): AuthStreamPaths {
    return this.ctx.streams.paths()
  }

  async reauthenticate (connection: Connection, options: AbortOptions = {}): Promise<AuthenticatedPeer> {
    return this.reauth.reauthenticate(connection, options)
  }

  async reauthenticateAll (options: AbortOptions & { concurrency?: number } = {}): Promise<{ ok: number, failed: number }> {
    return this.reauth.reauthenticateAll(options)
  }

  async revalidateSessions (): Promise<{ checked: number, closed: number }> {
    return this.upkeep.revalidateSessions()
  }

  private onConnectionOpen (evt: CustomEvent<Connection>): void {
    this.first.track(evt.detail)
  }

  private onConnectionClose (evt: CustomEvent<Connection>): void {
    const state = this.states.get(evt.detail.id)
    if (state == null) { return }
    clearTimeout(state.closer)
    this.first.fail(state, new AuthError('CLOSED', 'connection closed during auth'))
    this.states.delete(evt.detail.id)
  }
}
