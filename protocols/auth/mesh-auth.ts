import { serviceCapabilities, TypedEventEmitter } from '@libp2p/interface'
import { raceAbort } from '../../src/util/race-abort.ts'
import { failureOf, refuseSecondStream, sessionOf, verifierRefusal } from './connection-auth.ts'
import { DEFAULT_DEADLINE_MS, FAILURE_FLUSH_MS, MAX_HELD_STREAMS, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, PROTOCOL, REAUTH_MAX_INBOUND_STREAMS, REAUTH_MAX_OUTBOUND_STREAMS, REAUTH_MIN_INTERVAL_MS, REAUTH_PROTOCOL, REAUTH_TRANSCRIPT_LABEL, REPLAY_CACHE_SIZE, REPLAY_CACHE_TTL_MS, SESSION_CHECK_MS } from './constants.ts'
import { AuthError } from './errors.ts'
import { runExchange, toAuthError } from './exchange.ts'
import { claimInboundStreams, handBack, releaseStreams } from './first-stream.ts'
import { guardRegisteredProtocols, requireAuthenticated } from './guard.ts'
import { freshNonce } from './nonce.ts'
import { acceptSelect, openBareStream, putBack, readSelect, refuseSelect } from './pipelined-select.ts'
import { PreauthLimiter } from './preauth-limits.ts'
import { ReplayCache } from './replay-cache.ts'
import { sessionAction } from './session-watch.ts'
import { transportOf } from './transport-name.ts'
import type { ConnectionAuth } from './connection-auth.ts'
import type { ExchangeParams, PeerHello } from './exchange.ts'
import type { SelectAnswer, SelectRequest } from './pipelined-select.ts'
import type { PreauthRefusal } from './preauth-limits.ts'
import type { AuthRole } from './transcript.ts'
import type { AuthenticatedPeer, LocalCredentials, MeshAuth, MeshAuthComponents, MeshAuthEvents, MeshAuthInit, SessionEnded } from './types.ts'
import type { AuthCheckInput } from './verify-auth.ts'
import type { PeerIdentity } from '../../src/node/peer-verifier.ts'
import type { AbortOptions, Connection, CounterGroup, Logger, Stream, StreamHandler } from '@libp2p/interface'

/**
 * Which end of a connection opens the auth stream: the dialer, whose side is ready first. (Letting
 * the listener open it instead, to overlap the dialer's set-up, measured no faster here.)
 */
const STREAM_OPENER = 'outbound'

/** Failures that say nothing about the source address: no strike against it. */
const NO_SOURCE_STRIKE = new Set(['CLOSED', 'LOCAL_CREDENTIALS'])

/** See `meshAuth()` in index.ts; the class is exported for tests that build it with stub components. */
export class DefaultMeshAuth extends TypedEventEmitter<MeshAuthEvents> implements MeshAuth {
  readonly protocol = PROTOCOL
  readonly [serviceCapabilities] = ['@dadm-mesh/auth']
  private readonly components: MeshAuthComponents
  private readonly init: MeshAuthInit
  private readonly log: Logger
  private readonly deadlineMs: number
  private readonly now: () => number
  private readonly replay: ReplayCache
  private readonly preauth: PreauthLimiter
  private readonly states = new Map<string, ConnectionAuth>()
  private readonly results?: CounterGroup
  private running = false
  private watch?: ReturnType<typeof setInterval>
  /** Re-auths begun, in order: the later one read our credentials later. */
  private reauthsBegun = 0

  constructor (components: MeshAuthComponents, init: MeshAuthInit) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('dadm-mesh:auth')
    this.deadlineMs = init.deadlineMs ?? DEFAULT_DEADLINE_MS
    this.now = init.now ?? Date.now
    this.preauth = init.preauth instanceof PreauthLimiter ? init.preauth : new PreauthLimiter(init.preauth ?? {}, this.now)
    this.replay = new ReplayCache(init.replayCacheSize ?? REPLAY_CACHE_SIZE, init.replayCacheTtlMs ?? REPLAY_CACHE_TTL_MS)
    this.results = components.metrics?.registerCounterGroup('dadm_mesh_auth_results_total', { label: 'code' })
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
    this.onConnectionClose = this.onConnectionClose.bind(this)
  }

  readonly [Symbol.toStringTag] = '@dadm-mesh/auth'

  async start (): Promise<void> {
    if (this.running) { return }
    this.running = true
    await this.components.registrar.handle(PROTOCOL, (stream, connection) => this.onInboundStream(stream, connection), {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
    await this.components.registrar.handle(REAUTH_PROTOCOL, (stream, connection) => this.onReauthStream(stream, connection), {
      maxInboundStreams: REAUTH_MAX_INBOUND_STREAMS,
      maxOutboundStreams: REAUTH_MAX_OUTBOUND_STREAMS
    })
    const every = this.init.sessionCheckMs ?? SESSION_CHECK_MS
    if (every > 0) {
      this.watch = setInterval(() => { this.watchSessions() }, every)
      this.watch.unref?.()
    }
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    for (const connection of this.components.connectionManager.getConnections()) { this.track(connection) }
  }

  async afterStart (): Promise<void> {
    if (this.init.guardProtocols !== false) {
      const wrapped = await this.guardAll()
      this.log('guarding protocols %s', wrapped.join(', '))
    }
  }

  async stop (): Promise<void> {
    if (!this.running) { return }
    this.running = false
    clearInterval(this.watch)
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    for (const state of this.states.values()) {
      clearTimeout(state.timer)
      clearTimeout(state.closer)
      this.preauth.release(state.connection.id)
      if (state.outcome == null) {
        const err = new AuthError('CLOSED', 'node stopping')
        state.outcome = err
        state.controller.abort(err)
        state.reject(err)
      }
    }
    this.states.clear()
    await this.components.registrar.unhandle(PROTOCOL).catch(() => {})
    await this.components.registrar.unhandle(REAUTH_PROTOCOL).catch(() => {})
  }

  async waitForAuthentication (connection: Connection, options: AbortOptions = {}): Promise<AuthenticatedPeer> {
    const state = this.track(connection)
    try {
      if (options.signal == null) { await state.done } else { await raceAbort(state.done, options.signal) }
    } catch (err: any) {
      throw new AuthError('NOT_AUTHENTICATED', `peer ${connection.remotePeer.toString()} is not authenticated`, {}, { cause: err })
    }
    // The session as it is now: re-auth may have replaced it, or its certificate expired.
    const peer = this.live(state)
    if (peer == null) { throw new AuthError('NOT_AUTHENTICATED', `the session with ${connection.remotePeer.toString()} has expired`) }
    return peer
  }

  getAuthenticated (connection: Connection | string): AuthenticatedPeer | undefined {
    return this.live(this.states.get(typeof connection === 'string' ? connection : connection.id))
  }

  connectionOf (connectionId: string): Connection | undefined {
    return this.states.get(connectionId)?.connection
  }

  authenticatedConnections (): Array<{ connection: Connection, peer: AuthenticatedPeer }> {
    const out: Array<{ connection: Connection, peer: AuthenticatedPeer }> = []
    for (const state of this.states.values()) {
      const peer = this.live(state)
      if (peer != null) { out.push({ connection: state.connection, peer }) }
    }
    return out
  }

  localSpkiOf (connection: Connection | string): Uint8Array | undefined {
    return this.states.get(typeof connection === 'string' ? connection : connection.id)?.localSpki
  }

  /** A session counts only while the certificate it rests on is valid: expiry needs no sweep to take effect. */
  private live (state: ConnectionAuth | undefined): AuthenticatedPeer | undefined {
    const peer = sessionOf(state)
    return peer != null && this.now() <= peer.notAfter ? peer : undefined
  }

  private currentCredentials (): LocalCredentials {
    return typeof this.init.credentials === 'function' ? this.init.credentials() : this.init.credentials
  }

  guard (handler: StreamHandler): StreamHandler {
    return requireAuthenticated(this, handler)
  }

  async guardAll (): Promise<string[]> {
    // Re-auth checks the session itself (and must answer even as its certificate nears its end).
    return guardRegisteredProtocols(this.components.registrar, this, [PROTOCOL, REAUTH_PROTOCOL, ...(this.init.exemptProtocols ?? [])])
  }

  private onConnectionOpen (evt: CustomEvent<Connection>): void {
    this.track(evt.detail)
  }

  private onConnectionClose (evt: CustomEvent<Connection>): void {
    const state = this.states.get(evt.detail.id)
    if (state == null) { return }
    clearTimeout(state.closer)
    this.fail(state, new AuthError('CLOSED', 'connection closed during auth'))
    this.states.delete(evt.detail.id)
  }

  /** Starts (once) the auth of a connection: dialers open the stream, listeners wait for it. */
  private track (connection: Connection): ConnectionAuth {
    const existing = this.states.get(connection.id)
    if (existing != null) { return existing }
    const { promise, resolve, reject } = Promise.withResolvers<AuthenticatedPeer>()
    promise.catch(() => {}) // a failure is reported by event; waiters get their own rejection
    if (!this.running || connection.status !== 'open') {
      // Nothing to authenticate (closed already, or we are stopped): answer waiters, keep no state.
      const err = new AuthError('CLOSED', 'connection not open or node not running')
      reject(err)
      return { connection, startedAt: performance.now(), controller: new AbortController(), done: promise, resolve, reject, outcome: err, streamSeen: true }
    }
    const state: ConnectionAuth = {
      connection,
      startedAt: performance.now(),
      controller: new AbortController(),
      timer: setTimeout(() => { this.fail(state, new AuthError('TIMEOUT', `auth not done within ${this.deadlineMs} ms`)) }, this.deadlineMs),
      done: promise,
      resolve,
      reject,
      streamSeen: false
    }
    state.timer?.unref?.()
    this.states.set(connection.id, state)
    // Every inbound stream is ours until the verdict (first-stream.ts): auth, "na", or held.
    claimInboundStreams(connection, (stream) => { void this.onPreauthStream(stream, state) })
    if (connection.direction === STREAM_OPENER) {
      state.streamSeen = true
      void this.openAuthStream(state)
    } else {
      this.admit(state)
    }
    return state
  }

  /**
   * Counts an inbound connection as waiting for auth (preauth-limits.ts), or turns it away: its
   * source is backed off or holds its share already. Makes room by closing the oldest waiting
   * connection of the heaviest source when the caps are reached.
   */
  private admit (state: ConnectionAuth): void {
    const c = state.connection
    const connections = this.components.connectionManager.getConnections()
    const max = this.init.maxConnections ?? this.components.connectionManager.getMaxConnections?.() ?? Infinity
    const { refused, evict } = this.preauth.admit(c.id, c.remoteAddr.toString(), connections.length, max)
    if (refused != null) {
      this.turnAway(state, new AuthError(refused, `connection from ${c.remoteAddr.toString()} refused before auth: ${refused}`))
      return
    }
    for (const id of evict) {
      const victim = this.states.get(id)
      if (victim != null) { this.turnAway(victim, new AuthError('PREAUTH_PRUNED', 'closed to make room while the connections waiting for auth are at their cap')) }
    }
  }

  /**
   * Closes a connection waiting for auth on the limiter's word. Not an auth failure of its
   * PeerId (reported as 'preauth:refused', not 'peer:auth-failed', so no PeerId back-off: a
   * member pruned under a flood may dial again at once); a pruned source earns a strike.
   */
  private turnAway (state: ConnectionAuth, err: AuthError): void {
    if (state.outcome != null) { return }
    clearTimeout(state.timer)
    state.outcome = err
    state.controller.abort(err)
    state.reject(err)
    this.preauth.release(state.connection.id)
    this.refuseHeld(state, err)
    const c = state.connection
    if (err.code === 'PREAUTH_PRUNED') { this.preauth.strike(c.remoteAddr.toString()) }
    this.results?.increment({ [err.code]: true })
    this.log('connection %s from %a closed before auth: %s', c.id, c.remoteAddr, err.code)
    this.safeDispatchEvent('preauth:refused', { detail: { ...failureOf(state, err), pendingNow: this.preauth.pending } })
    if (c.status === 'open') { c.abort(err) }
  }

  /** Connections waiting for auth now (all sources), and from `remoteAddr`'s source. */
  pendingAuth (remoteAddr?: string): { total: number, fromSource: number, refused: Record<PreauthRefusal, number> } {
    return { total: this.preauth.pending, fromSource: remoteAddr == null ? 0 : this.preauth.pendingFrom(remoteAddr), refused: { ...this.preauth.refused } }
  }

  private async openAuthStream (state: ConnectionAuth): Promise<void> {
    let stream: Stream | null
    const signal = state.controller.signal
    try {
      // The select lines ride with our hello on a bare stream (pipelined-select.ts), saving the
      // multistream-select round trip; without access to the muxer, a full negotiation.
      stream = await openBareStream(state.connection, PROTOCOL, signal)
      if (stream == null) {
        await this.runOn(state, await state.connection.newStream(PROTOCOL, { signal }), true)
        return
      }
    } catch (err: any) {
      this.fail(state, toAuthError(err, signal))
      return
    }
    await this.runOn(state, stream, true, { select: PROTOCOL })
  }

  private async onInboundStream (stream: Stream, connection: Connection): Promise<void> {
    const state = this.track(connection)
    if (connection.direction === STREAM_OPENER) {
      // We open the auth stream on our own connections; the peer opening one is a second exchange.
      refuseSecondStream(stream)
      return
    }
    await this.respondOn(state, stream)
  }

  /** Runs our side as responder, unless this connection already has its exchange. */
  private async respondOn (state: ConnectionAuth, stream: Stream, wire: Pick<ExchangeParams, 'replyPrefix'> = {}): Promise<void> {
    if (state.streamSeen || state.outcome != null) {
      // One exchange per connection; a second stream is refused without touching the first.
      refuseSecondStream(stream)
      return
    }
    state.streamSeen = true
    await this.runOn(state, stream, false, wire)
  }

  /**
   * An inbound stream of a connection that has no verdict yet (first-stream.ts): nothing but auth
   * before auth. The auth stream runs the exchange; `ls`, a first stream for anything else, a
   * second auth stream, or a stream of a refused connection gets "na" and is reset; any other
   * stream waits, unanswered, for the verdict (an honest peer opens its streams the moment its
   * own side succeeds, a moment before ours does) and then goes to libp2p, or gets "na".
   */
  private async onPreauthStream (stream: Stream, state: ConnectionAuth): Promise<void> {
    const signal = state.controller.signal
    let request: SelectRequest
    try {
      request = await readSelect(stream, { signal })
    } catch (err: any) {
      if (stream.status === 'open') { stream.abort(toAuthError(err, signal)) }
      return
    }
    const inbound = state.connection.direction !== STREAM_OPENER
    if (request.protocol === PROTOCOL && inbound && !state.streamSeen && state.outcome == null) {
      let answer: SelectAnswer
      try {
        answer = acceptSelect(stream, PROTOCOL, { signal })
      } catch (err: any) {
        if (stream.status === 'open') { stream.abort(toAuthError(err, signal)) }
        this.fail(state, toAuthError(err, signal))
        return
      }
      await this.respondOn(state, stream, answer.unsent != null ? { replyPrefix: answer.unsent } : {})
      return
    }
    if (sessionOf(state) != null) {
      // The verdict came while we read the lines: libp2p answers them.
      putBack(stream, request)
      handBack(state.connection, stream)
      return
    }
    const started = !inbound || state.streamSeen
    const held = state.held ?? []
    if (state.outcome != null || !request.header || request.protocol === 'ls' || request.protocol === PROTOCOL || !started || held.length >= MAX_HELD_STREAMS) {
      refuseSelect(stream, request, new AuthError('NOT_AUTHENTICATED', 'nothing but auth before auth'))
      return
    }
    held.push({ stream, request })
    state.held = held
  }

  /** The streams held for the verdict get "na" (the connection is refused). */
  private refuseHeld (state: ConnectionAuth, err: AuthError): void {
    for (const { stream, request } of (state.held ?? []).splice(0)) { refuseSelect(stream, request, err) }
  }

  private async runOn (state: ConnectionAuth, stream: Stream, opener: boolean, wire: Pick<ExchangeParams, 'select' | 'replyPrefix'> = {}): Promise<void> {
    const remotePeer = state.connection.remotePeer
    const role: AuthRole = state.connection.direction === 'outbound' ? 'dialer' : 'listener'
    try {
      const credentials = this.currentCredentials()
      let presented: Uint8Array[] = []
      const identity = await runExchange(stream, {
        role,
        opener,
        localPeerId: this.components.peerId.toMultihash().bytes,
        remotePeerId: remotePeer.toMultihash().bytes,
        remotePeerIdString: remotePeer.toString(),
        credentials,
        nonce: this.init.nonce?.() ?? freshNonce(),
        signal: state.controller.signal,
        now: this.now,
        examineHello: async (hello) => {
          presented = hello.chain
          return this.examineHello(hello, remotePeer.toString())
        },
        onRefuse: (err) => { this.fail(state, err) },
        // The opener is done once its proof is out (see ExchangeParams.onLateVerdict).
        ...(opener ? { onLateVerdict: (err: AuthError) => { this.lateRefusal(state, err) } } : {}),
        ...(wire.select != null ? { select: wire.select } : {}),
        ...(wire.replyPrefix != null ? { replyPrefix: wire.replyPrefix } : {})
      })
      if (state.outcome == null) {
        state.chain = presented
        state.localSpki = credentials.signer.spki
      }
      this.succeed(state, identity)
    } catch (err: any) {
      this.fail(state, toAuthError(err, state.controller.signal))
    }
  }

  /** Gathers what `verifyAuth` needs about a hello: the PKI's answer, revocation, replay. */
  private async examineHello (hello: PeerHello, remotePeerId: string): Promise<Omit<AuthCheckInput, 'transcript' | 'signature'>> {
    const now = this.now()
    const nonceSeen = this.replay.checkAndAdd(hello.nonce, now)
    let chain: AuthCheckInput['chain'] = { code: 'NO_CERTIFICATE' }
    let revoked = false
    if (hello.chain.length > 0) {
      try {
        chain = { identity: await this.init.verifier.verify(new Date(now), hello.chain) }
      } catch (err: any) {
        chain = verifierRefusal(err)
      }
    }
    if ('identity' in chain && this.init.isRevoked != null) {
      try {
        revoked = this.init.isRevoked(chain.identity)
      } catch {
        revoked = true // fail closed: a broken revocation check admits nobody
      }
    }
    return { remotePeerId, chainLength: hello.chain.length, chain, revoked, nonceSeen }
  }

  async reauthenticate (connection: Connection, options: AbortOptions = {}): Promise<AuthenticatedPeer> {
    const state = this.states.get(connection.id)
    if (this.live(state) == null || state == null) { throw new AuthError('NOT_AUTHENTICATED', `no live session with ${connection.remotePeer.toString()} to re-authenticate`) }
    // One at a time per connection, each reading our credentials when it starts: a re-auth
    // asked for after a rotation never merges into one that carried the old certificate.
    const run = async (): Promise<AuthenticatedPeer> => {
      const signal = AbortSignal.any([options.signal ?? AbortSignal.timeout(this.deadlineMs), AbortSignal.timeout(this.deadlineMs)])
      let stream: Stream
      try {
        stream = await connection.newStream(REAUTH_PROTOCOL, { signal })
      } catch (err: any) {
        throw toAuthError(err, signal)
      }
      return this.runReauth(state, stream, true, signal)
    }
    const next = (state.reauthQueue ?? Promise.resolve()).catch(() => {}).then(run)
    state.reauthQueue = next
    return next
  }

  async reauthenticateAll (options: AbortOptions & { concurrency?: number } = {}): Promise<{ ok: number, failed: number }> {
    const todo = this.authenticatedConnections().map(c => c.connection)
    let ok = 0
    let failed = 0
    const worker = async (): Promise<void> => {
      for (let c = todo.shift(); c != null; c = todo.shift()) {
        try {
          await this.reauthenticate(c, options)
          ok++
        } catch (err: any) {
          failed++
          this.log('re-auth of %p failed - %e', c.remotePeer, err)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker))
    return { ok, failed }
  }

  async revalidateSessions (): Promise<{ checked: number, closed: number }> {
    let checked = 0
    let closed = 0
    for (const state of [...this.states.values()]) {
      const peer = this.live(state)
      if (peer == null || state.chain == null) { continue }
      checked++
      const now = this.now()
      let refusal: { code: 'CHAIN_INVALID' | 'REVOKED' | 'NO_CERTIFICATE', chainCode?: string } | undefined
      try {
        const identity = await this.init.verifier.verify(new Date(now), state.chain)
        if (this.init.isRevoked?.(identity) === true) { refusal = { code: 'REVOKED' } }
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

  /** A peer re-authenticates a live session of ours (it rotated, or its watch asks for our current certificate). */
  private async onReauthStream (stream: Stream, connection: Connection): Promise<void> {
    const state = this.states.get(connection.id)
    if (state == null || this.live(state) == null) {
      stream.abort(new AuthError('NOT_AUTHENTICATED', 'no live session to re-authenticate'))
      return
    }
    const t = performance.now()
    // [REJECT] a re-auth sooner than the minimum interval: each one makes our identity key sign
    if (state.reauthInAt != null && t - state.reauthInAt < (this.init.reauthMinIntervalMs ?? REAUTH_MIN_INTERVAL_MS)) {
      stream.abort(new AuthError('RATE_LIMITED', 're-auth too soon after the last one'))
      return
    }
    state.reauthInAt = t
    try {
      await this.runReauth(state, stream, false, AbortSignal.timeout(this.deadlineMs))
    } catch (err: any) {
      this.log('re-auth started by %p failed - %e', connection.remotePeer, err)
    }
  }

  /**
   * The exchange again, on its own stream and transcript label. Both sides present their current
   * certificates; on success the session rests on the peer's new one. A failure changes nothing.
   */
  private async runReauth (state: ConnectionAuth, stream: Stream, opener: boolean, signal: AbortSignal): Promise<AuthenticatedPeer> {
    const c = state.connection
    const previous = sessionOf(state)
    if (previous == null) { throw new AuthError('NOT_AUTHENTICATED', 'session gone') }
    const startedAt = performance.now()
    const begun = ++this.reauthsBegun
    const credentials = this.currentCredentials()
    let presented: Uint8Array[] = []
    let identity: PeerIdentity
    try {
      identity = await runExchange(stream, {
        role: c.direction === 'outbound' ? 'dialer' : 'listener',
        opener,
        localPeerId: this.components.peerId.toMultihash().bytes,
        remotePeerId: c.remotePeer.toMultihash().bytes,
        remotePeerIdString: c.remotePeer.toString(),
        credentials,
        nonce: this.init.nonce?.() ?? freshNonce(),
        signal,
        now: this.now,
        label: REAUTH_TRANSCRIPT_LABEL,
        examineHello: async (hello) => {
          presented = hello.chain
          const examined = await this.examineHello(hello, c.remotePeer.toString())
          // [REJECT] a certificate for another node_id: a connection never changes who it is
          if ('identity' in examined.chain && examined.chain.identity.nodeId !== previous.nodeId) {
            return { ...examined, chain: { code: 'CHAIN_INVALID', chainCode: 'IDENTITY_CHANGED' } }
          }
          return examined
        },
        onRefuse: () => {}
      })
    } catch (err: any) {
      const e = toAuthError(err, signal)
      this.results?.increment({ [`REAUTH_${e.code}`]: true })
      throw e
    }
    const current = sessionOf(state)
    if (current == null || c.status !== 'open') { throw new AuthError('CLOSED', 'connection closed during re-auth') }
    // Both ends may re-authenticate the connection at once (each just rotated): the exchanges
    // cross, and the one that ends last can carry what was current when it began, on either side.
    // Keep the newest: our credentials by when the exchange began, the peer's certificate by
    // issuance. (Installing the older one let the session fall back onto a certificate about to
    // expire, and the watch then closed it: SESSION_EXPIRED under fleet-wide rotation.)
    if (begun > (state.localBegun ?? 0)) {
      state.localSpki = credentials.signer.spki
      state.localBegun = begun
    }
    if (identity.notBefore < current.notBefore || (identity.notBefore === current.notBefore && identity.notAfter < current.notAfter)) {
      this.results?.increment({ REAUTH_STALE: true })
      this.log('re-auth of %p ended on serial %s, older than serial %s of a re-auth that crossed it: kept the newer', c.remotePeer, identity.serialHex, current.serialHex)
      return current
    }
    const peer: AuthenticatedPeer = {
      ...identity,
      connectionId: c.id,
      direction: c.direction,
      remoteAddr: c.remoteAddr.toString(),
      transport: transportOf(c.remoteAddr.toString()),
      authenticatedAt: this.now(),
      elapsedMs: performance.now() - startedAt
    }
    state.outcome = peer
    state.chain = presented
    delete state.refreshAskedAt
    this.results?.increment({ REAUTH_OK: true })
    this.log('re-authenticated %p node_id=%s serial %s -> %s', c.remotePeer, peer.nodeId, current.serialHex, peer.serialHex)
    this.safeDispatchEvent('peer:reauthenticated', { detail: { ...peer, previousSerialHex: current.serialHex } })
    return peer
  }

  /** One pass of the session watch: end expired sessions, ask peers near their end for a re-auth. */
  private watchSessions (): void {
    const now = this.now()
    const options = this.init.reauthLeadFraction != null ? { leadFraction: this.init.reauthLeadFraction } : {}
    for (const state of [...this.states.values()]) {
      const peer = sessionOf(state)
      if (peer == null) { continue }
      const action = sessionAction(now, { notBefore: peer.notBefore, notAfter: peer.notAfter, ...(state.refreshAskedAt != null ? { refreshAskedAt: state.refreshAskedAt } : {}) }, options)
      if (action === 'expired') {
        this.endSession(state, peer, new AuthError('SESSION_EXPIRED', `the certificate of ${peer.nodeId} expired and was not replaced`))
      } else if (action === 'refresh') {
        state.refreshAskedAt = now
        this.reauthenticate(state.connection).catch((err: Error) => { this.log('refresh re-auth of %p failed - %e', state.connection.remotePeer, err) })
      }
    }
  }

  /** Ends an authenticated session: the connection closes and listeners hear why (no back-off: not a failed handshake). */
  private endSession (state: ConnectionAuth, peer: AuthenticatedPeer, err: AuthError): void {
    state.outcome = err
    this.states.delete(state.connection.id)
    this.results?.increment({ [`SESSION_${err.code}`]: true })
    const ended: SessionEnded = { peerId: peer.peerId, nodeId: peer.nodeId, connectionId: peer.connectionId, serialHex: peer.serialHex, code: err.code, ...(err.chainCode != null ? { chainCode: err.chainCode } : {}) }
    this.log.error('session with %p node_id=%s serial=%s ended: %s', state.connection.remotePeer, peer.nodeId, peer.serialHex, err.code)
    this.safeDispatchEvent('session:ended', { detail: ended })
    if (state.connection.status === 'open') { state.connection.abort(err) }
  }

  private succeed (state: ConnectionAuth, identity: PeerIdentity): void {
    if (state.outcome != null) { return }
    clearTimeout(state.timer)
    const c = state.connection
    const peer: AuthenticatedPeer = {
      ...identity,
      connectionId: c.id,
      direction: c.direction,
      remoteAddr: c.remoteAddr.toString(),
      transport: transportOf(c.remoteAddr.toString()),
      authenticatedAt: this.now(),
      elapsedMs: performance.now() - state.startedAt
    }
    state.outcome = peer
    this.preauth.release(c.id)
    // From now on libp2p answers this connection's streams, the held ones first.
    releaseStreams(c)
    for (const { stream, request } of (state.held ?? []).splice(0)) {
      putBack(stream, request)
      handBack(c, stream)
    }
    state.resolve(peer)
    this.results?.increment({ OK: true })
    this.log('authenticated %p node_id=%s serial=%s over %s in %d ms', c.remotePeer, peer.nodeId, peer.serialHex, peer.transport, Math.round(peer.elapsedMs))
    this.safeDispatchEvent('peer:authenticated', { detail: peer })
  }

  /**
   * The peer refused our proof (or sent no verdict) after we had finished: we hold a proved
   * identity for it, but it holds none for us, so the connection is of no use. Reported like a
   * failed auth, then closed.
   */
  private lateRefusal (state: ConnectionAuth, err: AuthError): void {
    const c = state.connection
    const failure = failureOf(state, err)
    this.results?.increment({ [err.code]: true })
    this.log.error('%p refused our proof after we finished, code=%s remote_code=%s', c.remotePeer, err.code, err.remoteCode ?? '-')
    this.safeDispatchEvent('peer:auth-failed', { detail: failure })
    if (c.status === 'open') { c.abort(err) }
  }

  private fail (state: ConnectionAuth, err: AuthError): void {
    if (state.outcome != null) { return }
    clearTimeout(state.timer)
    state.outcome = err
    // A refusal we are still telling the peer about must not abort its own verdict write.
    if (err.verdictSent !== true) { state.controller.abort(err) }
    state.reject(err)
    const c = state.connection
    this.preauth.release(c.id)
    this.refuseHeld(state, err)
    // The deadline and every refusal count against the source address, which a flood cannot
    // change as it changes PeerIds; a closed connection or our own fault says nothing about it.
    if (c.direction !== STREAM_OPENER && !NO_SOURCE_STRIKE.has(err.code)) { this.preauth.strike(c.remoteAddr.toString()) }
    const failure = failureOf(state, err)
    this.results?.increment({ [err.code]: true })
    this.log.error('auth of %p failed code=%s chain_code=%s remote_code=%s after %d ms', c.remotePeer, err.code, err.chainCode ?? '-', err.remoteCode ?? '-', Math.round(failure.elapsedMs))
    // Listeners (the node's gater) see the failure before the connection goes, so a redial is refused.
    this.safeDispatchEvent('peer:auth-failed', { detail: failure })
    if (c.status !== 'open') { return }
    if (err.verdictSent === true) {
      // The peer was told why; let it hang up first (and log our code), but not for long.
      state.closer = setTimeout(() => { if (c.status === 'open') { c.abort(err) } }, FAILURE_FLUSH_MS)
      state.closer.unref?.()
    } else {
      c.abort(err)
    }
  }
}
