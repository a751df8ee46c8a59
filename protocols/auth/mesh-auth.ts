import { randomBytes } from 'node:crypto'
import { serviceCapabilities, TypedEventEmitter } from '@libp2p/interface'
import { MeshError } from '../../src/errors.ts'
import { DEFAULT_DEADLINE_MS, FAILURE_FLUSH_MS, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, NONCE_BYTES, PROTOCOL, REPLAY_CACHE_SIZE, REPLAY_CACHE_TTL_MS } from './constants.ts'
import { AuthError } from './errors.ts'
import { runExchange, toAuthError } from './exchange.ts'
import { guardRegisteredProtocols, requireAuthenticated } from './guard.ts'
import { ReplayCache } from './replay-cache.ts'
import { transportOf } from './transport-name.ts'
import type { HelloFrame } from './codec.ts'
import type { AuthRole } from './transcript.ts'
import type { AuthenticatedPeer, AuthFailure, MeshAuth, MeshAuthComponents, MeshAuthEvents, MeshAuthInit } from './types.ts'
import type { AuthCheckInput } from './verify-auth.ts'
import type { PeerIdentity } from '../../src/node/peer-verifier.ts'
import type { AbortOptions, Connection, CounterGroup, Logger, Stream, StreamHandler } from '@libp2p/interface'

/**
 * Which end of a connection opens the auth stream: the dialer, whose side is ready first. (Letting
 * the listener open it instead, to overlap the dialer's set-up, measured no faster here.)
 */
const STREAM_OPENER = 'outbound'

interface ConnectionAuth {
  connection: Connection
  startedAt: number
  controller: AbortController
  timer?: ReturnType<typeof setTimeout>
  done: Promise<AuthenticatedPeer>
  resolve(peer: AuthenticatedPeer): void
  reject(err: AuthError): void
  outcome?: AuthenticatedPeer | AuthError
  streamSeen: boolean
  /** Pending close of a refused connection (after the verdict had time to arrive). */
  closer?: ReturnType<typeof setTimeout>
}

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
  private readonly states = new Map<string, ConnectionAuth>()
  private readonly results?: CounterGroup
  private running = false

  constructor (components: MeshAuthComponents, init: MeshAuthInit) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('dadm-mesh:auth')
    this.deadlineMs = init.deadlineMs ?? DEFAULT_DEADLINE_MS
    this.now = init.now ?? Date.now
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
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    for (const state of this.states.values()) {
      clearTimeout(state.timer)
      clearTimeout(state.closer)
      if (state.outcome == null) {
        const err = new AuthError('CLOSED', 'node stopping')
        state.outcome = err
        state.controller.abort(err)
        state.reject(err)
      }
    }
    this.states.clear()
    await this.components.registrar.unhandle(PROTOCOL).catch(() => {})
  }

  async waitForAuthentication (connection: Connection, options: AbortOptions = {}): Promise<AuthenticatedPeer> {
    const state = this.track(connection)
    try {
      return options.signal == null ? await state.done : await raceAbort(state.done, options.signal)
    } catch (err: any) {
      throw new AuthError('NOT_AUTHENTICATED', `peer ${connection.remotePeer.toString()} is not authenticated`, {}, { cause: err })
    }
  }

  getAuthenticated (connection: Connection | string): AuthenticatedPeer | undefined {
    const outcome = this.states.get(typeof connection === 'string' ? connection : connection.id)?.outcome
    return outcome == null || outcome instanceof AuthError ? undefined : outcome
  }

  authenticatedConnections (): Array<{ connection: Connection, peer: AuthenticatedPeer }> {
    const out: Array<{ connection: Connection, peer: AuthenticatedPeer }> = []
    for (const state of this.states.values()) {
      if (state.outcome != null && !(state.outcome instanceof AuthError)) { out.push({ connection: state.connection, peer: state.outcome }) }
    }
    return out
  }

  guard (handler: StreamHandler): StreamHandler {
    return requireAuthenticated(this, handler)
  }

  async guardAll (): Promise<string[]> {
    return guardRegisteredProtocols(this.components.registrar, this, [PROTOCOL, ...(this.init.exemptProtocols ?? [])])
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
    if (connection.direction === STREAM_OPENER) {
      state.streamSeen = true
      void this.openAuthStream(state)
    }
    return state
  }

  private async openAuthStream (state: ConnectionAuth): Promise<void> {
    let stream: Stream
    try {
      stream = await state.connection.newStream(PROTOCOL, { signal: state.controller.signal })
    } catch (err: any) {
      this.fail(state, toAuthError(err, state.controller.signal))
      return
    }
    await this.runOn(state, stream, true)
  }

  private async onInboundStream (stream: Stream, connection: Connection): Promise<void> {
    const state = this.track(connection)
    if (state.streamSeen || state.outcome != null || connection.direction === STREAM_OPENER) {
      // One exchange per connection; a second stream is refused without touching the first.
      stream.abort(new AuthError('MALFORMED_MESSAGE', 'second auth stream on one connection'))
      return
    }
    state.streamSeen = true
    await this.runOn(state, stream, false)
  }

  private async runOn (state: ConnectionAuth, stream: Stream, opener: boolean): Promise<void> {
    const remotePeer = state.connection.remotePeer
    const role: AuthRole = state.connection.direction === 'outbound' ? 'dialer' : 'listener'
    try {
      const credentials = typeof this.init.credentials === 'function' ? this.init.credentials() : this.init.credentials
      const identity = await runExchange(stream, {
        role,
        opener,
        localPeerId: this.components.peerId.toMultihash().bytes,
        remotePeerId: remotePeer.toMultihash().bytes,
        remotePeerIdString: remotePeer.toString(),
        credentials,
        nonce: this.init.nonce?.() ?? randomBytes(NONCE_BYTES),
        signal: state.controller.signal,
        now: this.now,
        examineHello: async (hello) => this.examineHello(hello, remotePeer.toString()),
        onRefuse: (err) => { this.fail(state, err) }
      })
      this.succeed(state, identity)
    } catch (err: any) {
      this.fail(state, toAuthError(err, state.controller.signal))
    }
  }

  /** Gathers what `verifyAuth` needs about a hello: the PKI's answer, revocation, replay. */
  private async examineHello (hello: HelloFrame, remotePeerId: string): Promise<Omit<AuthCheckInput, 'transcript' | 'signature'>> {
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
    state.resolve(peer)
    this.results?.increment({ OK: true })
    this.log('authenticated %p node_id=%s serial=%s over %s in %d ms', c.remotePeer, peer.nodeId, peer.serialHex, peer.transport, Math.round(peer.elapsedMs))
    this.safeDispatchEvent('peer:authenticated', { detail: peer })
  }

  private fail (state: ConnectionAuth, err: AuthError): void {
    if (state.outcome != null) { return }
    clearTimeout(state.timer)
    state.outcome = err
    // A refusal we are still telling the peer about must not abort its own verdict write.
    if (err.verdictSent !== true) { state.controller.abort(err) }
    state.reject(err)
    const c = state.connection
    const failure: AuthFailure = {
      peerId: c.remotePeer.toString(),
      connectionId: c.id,
      direction: c.direction,
      remoteAddr: c.remoteAddr.toString(),
      code: err.code,
      elapsedMs: performance.now() - state.startedAt
    }
    if (err.chainCode != null) { failure.chainCode = err.chainCode }
    if (err.remoteCode != null) { failure.remoteCode = err.remoteCode }
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

/** Maps a verifier's refusal to the chain part of the check input; codes stay bounded. */
function verifierRefusal (err: any): { code: 'CHAIN_INVALID' | 'REVOKED' | 'NO_CERTIFICATE', chainCode?: string } {
  const code: unknown = err?.code
  if (code === 'REVOKED') { return { code: 'REVOKED' } }
  if (code === 'NO_CERTIFICATE') { return { code: 'NO_CERTIFICATE' } }
  if (typeof err?.chainCode === 'string') { return { code: 'CHAIN_INVALID', chainCode: err.chainCode } }
  // A MeshError's code is bounded by its class; anything else is named, not echoed.
  return { code: 'CHAIN_INVALID', chainCode: err instanceof MeshError ? err.code : 'VERIFIER_ERROR' }
}

async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  const { promise: aborted, reject } = Promise.withResolvers<never>()
  const onAbort = (): void => { reject(signal.reason) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
