import { currentCredentials } from './auth-context.ts'
import { failureOf, refuseSecondStream, sessionFor, sessionOf } from './connection-auth.ts'
import { FAILURE_FLUSH_MS, MAX_HELD_STREAMS, PROTOCOL } from './constants.ts'
import { AuthError } from './errors.ts'
import { examineHello } from './examine-hello.ts'
import { runExchange, toAuthError } from './exchange.ts'
import { freshNonce } from './nonce.ts'
import { acceptSelect, putBack, readSelect, refuseSelect } from './pipelined-select.ts'
import { admitInbound, refuseHeld } from './preauth-gate.ts'
import type { AuthContext } from './auth-context.ts'
import type { ConnectionAuth } from './connection-auth.ts'
import type { ExchangeParams } from './exchange.ts'
import type { SelectAnswer, SelectRequest } from './pipelined-select.ts'
import type { AuthRole } from './transcript.ts'
import type { AuthenticatedPeer } from './types.ts'
import type { PeerIdentity } from '../../src/pki/peer-verifier.ts'
import type { Connection, Stream } from '@libp2p/interface'

/**
 * Which end of a connection opens the auth stream: the dialer, whose side is ready first.
 * Letting the listener open it, to overlap the dialer's set-up, gains nothing in the dial
 * benchmark.
 */
const STREAM_OPENER = 'outbound'

/** Failures that say nothing about the source address: no strike against it. */
const NO_SOURCE_STRIKE = new Set(['CLOSED', 'LOCAL_CREDENTIALS'])

/**
 * The first exchange of every connection, from its first sight to the verdict: the state and its
 * deadline, the auth stream on either side (through the stream opener), the streams that come
 * before the verdict, and success or failure. Inbound connections pass the pre-auth caps first
 * (preauth-gate.ts).
 */
export class FirstExchange {
  private readonly ctx: AuthContext

  constructor (ctx: AuthContext) {
    this.ctx = ctx
  }

  /** Starts (once) the auth of a connection: dialers open the stream, listeners wait for it. */
  track (connection: Connection): ConnectionAuth {
    const ctx = this.ctx
    const existing = ctx.states.get(connection.id)
    if (existing != null) { return existing }
    const { promise, resolve, reject } = Promise.withResolvers<AuthenticatedPeer>()
    promise.catch(() => {}) // a failure is reported by event; waiters get their own rejection
    if (!ctx.running() || connection.status !== 'open') {
      // Nothing to authenticate (closed already, or we are stopped): answer waiters, keep no state.
      const err = new AuthError('CLOSED', 'connection not open or node not running')
      reject(err)
      return { connection, startedAt: performance.now(), controller: new AbortController(), done: promise, resolve, reject, outcome: err, streamSeen: true }
    }
    const state: ConnectionAuth = {
      connection,
      startedAt: performance.now(),
      controller: new AbortController(),
      timer: setTimeout(() => { this.fail(state, new AuthError('TIMEOUT', `auth not done within ${ctx.deadlineMs} ms`)) }, ctx.deadlineMs),
      done: promise,
      resolve,
      reject,
      streamSeen: false
    }
    state.timer?.unref?.()
    ctx.states.set(connection.id, state)
    // Every inbound stream is ours until the verdict (first-stream.ts): auth, "na", or held.
    ctx.streams.claim(connection, (stream) => { void this.onPreauthStream(stream, state) })
    if (connection.direction === STREAM_OPENER) {
      state.streamSeen = true
      void this.openAuthStream(state)
    } else {
      admitInbound(this.ctx, state)
    }
    return state
  }

  private async openAuthStream (state: ConnectionAuth): Promise<void> {
    const signal = state.controller.signal
    let opened
    try {
      // Bare, with the select lines riding on our hello (pipelined-select.ts), when the opener can.
      opened = await this.ctx.streams.open(state.connection, PROTOCOL, signal)
    } catch (err: any) {
      this.fail(state, toAuthError(err, signal))
      return
    }
    await this.runOn(state, opened.stream, true, opened.pipelined ? { select: PROTOCOL } : {})
  }

  /** The auth stream as libp2p's registrar delivers it: on a connection whose streams were not claimed. */
  async onInboundStream (stream: Stream, connection: Connection): Promise<void> {
    const state = this.track(connection)
    if (connection.direction === STREAM_OPENER) {
      // We open the auth stream on our own connections; the peer opening one is a second exchange.
      refuseSecondStream(stream)
      return
    }
    if (state.streamSeen || state.outcome != null) {
      refuseSecondStream(stream)
      return
    }
    this.ctx.streams.accepted(connection, stream, PROTOCOL, 'fallback')
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
        this.ctx.streams.accepted(state.connection, stream, PROTOCOL, 'fast')
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
      this.ctx.streams.handBack(state.connection, stream)
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

  private async runOn (state: ConnectionAuth, stream: Stream, opener: boolean, wire: Pick<ExchangeParams, 'select' | 'replyPrefix'> = {}): Promise<void> {
    const ctx = this.ctx
    const remotePeer = state.connection.remotePeer
    const role: AuthRole = state.connection.direction === 'outbound' ? 'dialer' : 'listener'
    try {
      const credentials = currentCredentials(ctx)
      let presented: Uint8Array[] = []
      const identity = await runExchange(stream, {
        role,
        opener,
        localPeerId: ctx.components.peerId.toMultihash().bytes,
        remotePeerId: remotePeer.toMultihash().bytes,
        remotePeerIdString: remotePeer.toString(),
        credentials,
        nonce: ctx.init.nonce?.() ?? freshNonce(),
        signal: state.controller.signal,
        now: ctx.now,
        examineHello: async (hello) => {
          presented = hello.chain
          return examineHello(ctx, hello, remotePeer.toString())
        },
        onRefuse: (err) => { this.fail(state, err) },
        ...(role === 'listener' && ctx.init.refusePeer != null ? { refusePeer: () => peerRefusal(ctx.init.refusePeer?.(remotePeer.toString())) } : {}),
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

  private succeed (state: ConnectionAuth, identity: PeerIdentity): void {
    const ctx = this.ctx
    if (state.outcome != null) { return }
    clearTimeout(state.timer)
    const c = state.connection
    const peer = sessionFor(identity, c, ctx.now(), state.startedAt)
    state.outcome = peer
    ctx.preauth.release(c.id)
    // libp2p answers this connection's later streams, the held ones first.
    ctx.streams.release(c)
    for (const { stream, request } of (state.held ?? []).splice(0)) {
      putBack(stream, request)
      ctx.streams.handBack(c, stream)
    }
    state.resolve(peer)
    ctx.streams.authenticated(c, PROTOCOL)
    ctx.results?.increment({ OK: true })
    ctx.log('authenticated %p node_id=%s serial=%s over %s in %d ms', c.remotePeer, peer.nodeId, peer.serialHex, peer.transport, Math.round(peer.elapsedMs))
    ctx.emit('peer:authenticated', peer)
  }

  /**
   * The peer refused our proof (or sent no verdict) after we had finished: we hold a proved
   * identity for it, but it holds none for us, so the connection is of no use. Reported like a
   * failed auth, then closed.
   */
  private lateRefusal (state: ConnectionAuth, err: AuthError): void {
    const ctx = this.ctx
    const c = state.connection
    const failure = failureOf(state, err)
    ctx.results?.increment({ [err.code]: true })
    ctx.log.error('%p refused our proof after we finished, code=%s remote_code=%s', c.remotePeer, err.code, err.remoteCode ?? '-')
    ctx.emit('peer:auth-failed', failure)
    if (c.status === 'open') { c.abort(err) }
  }

  fail (state: ConnectionAuth, err: AuthError): void {
    const ctx = this.ctx
    if (state.outcome != null) { return }
    clearTimeout(state.timer)
    state.outcome = err
    // A refusal we are still telling the peer about must not abort its own verdict write.
    if (err.verdictSent !== true) { state.controller.abort(err) }
    state.reject(err)
    const c = state.connection
    ctx.preauth.release(c.id)
    refuseHeld(state, err)
    // The deadline and every refusal count against the source address, which a flood cannot
    // change as it changes PeerIds; a closed connection or our own fault says nothing about it.
    if (c.direction !== STREAM_OPENER && !NO_SOURCE_STRIKE.has(err.code)) { ctx.preauth.strike(c.remoteAddr.toString()) }
    const failure = failureOf(state, err)
    ctx.results?.increment({ [err.code]: true })
    ctx.log.error('auth of %p failed code=%s chain_code=%s remote_code=%s after %d ms', c.remotePeer, err.code, err.chainCode ?? '-', err.remoteCode ?? '-', Math.round(failure.elapsedMs))
    // Listeners (the node's gater) see the failure before the connection goes, so a redial is refused.
    ctx.emit('peer:auth-failed', failure)
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

/** The AuthError for a refusal by PeerId, marked as told to the peer (`refuse` sends the verdict). */
function peerRefusal (code: 'REVOKED' | 'PEER_BACKED_OFF' | undefined): AuthError | undefined {
  return code == null ? undefined : new AuthError(code, `peer refused by PeerId before proof: ${code}`, { verdictSent: true })
}
