import { currentCredentials, liveSession } from './auth-context.ts'
import { sessionFor, sessionOf } from './connection-auth.ts'
import { REAUTH_MIN_INTERVAL_MS, REAUTH_PROTOCOL, REAUTH_TRANSCRIPT_LABEL } from './constants.ts'
import { AuthError } from './errors.ts'
import { examineHello } from './examine-hello.ts'
import { runExchange, toAuthError } from './exchange.ts'
import { freshNonce } from './nonce.ts'
import type { AuthContext } from './auth-context.ts'
import type { ConnectionAuth } from './connection-auth.ts'
import type { AuthenticatedPeer } from './types.ts'
import type { PeerIdentity } from '../../src/pki/peer-verifier.ts'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'

/**
 * Re-authentication of live sessions (`/dadm-mesh/reauth/1.0.0`): the queue of our own re-auths
 * per connection, the peer's re-auths of ours (rate-limited), and the rule for two that cross.
 */
export class Reauth {
  private readonly ctx: AuthContext
  /** Re-auths begun, in order: the later one read our credentials later. */
  private begun = 0

  constructor (ctx: AuthContext) {
    this.ctx = ctx
  }

  async reauthenticate (connection: Connection, options: AbortOptions = {}): Promise<AuthenticatedPeer> {
    const ctx = this.ctx
    const state = ctx.states.get(connection.id)
    if (liveSession(ctx, state) == null || state == null) { throw new AuthError('NOT_AUTHENTICATED', `no live session with ${connection.remotePeer.toString()} to re-authenticate`) }
    // One at a time per connection, each reading our credentials when it starts: a re-auth
    // asked for after a rotation never merges into one that carried the old certificate.
    const run = async (): Promise<AuthenticatedPeer> => {
      const signal = AbortSignal.any([options.signal ?? AbortSignal.timeout(ctx.deadlineMs), AbortSignal.timeout(ctx.deadlineMs)])
      let stream: Stream
      try {
        stream = await connection.newStream(REAUTH_PROTOCOL, { signal, runOnLimitedConnection: true })
      } catch (err: any) {
        throw toAuthError(err, signal)
      }
      return this.run(state, stream, true, signal)
    }
    const next = (state.reauthQueue ?? Promise.resolve()).catch(() => {}).then(run)
    state.reauthQueue = next
    return next
  }

  async reauthenticateAll (options: AbortOptions & { concurrency?: number } = {}): Promise<{ ok: number, failed: number }> {
    const todo: Connection[] = []
    for (const state of this.ctx.states.values()) {
      if (liveSession(this.ctx, state) != null) { todo.push(state.connection) }
    }
    let ok = 0
    let failed = 0
    const worker = async (): Promise<void> => {
      for (let c = todo.shift(); c != null; c = todo.shift()) {
        try {
          await this.reauthenticate(c, options)
          ok++
        } catch (err: any) {
          failed++
          this.ctx.log('re-auth of %p failed - %e', c.remotePeer, err)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker))
    return { ok, failed }
  }

  /** A peer re-authenticates a live session of ours (it rotated, or its watch asks for our current certificate). */
  async onReauthStream (stream: Stream, connection: Connection): Promise<void> {
    const ctx = this.ctx
    const state = ctx.states.get(connection.id)
    if (state == null || liveSession(ctx, state) == null) {
      stream.abort(new AuthError('NOT_AUTHENTICATED', 'no live session to re-authenticate'))
      return
    }
    const t = performance.now()
    // [REJECT] a re-auth sooner than the minimum interval: each one makes our identity key sign
    if (state.reauthInAt != null && t - state.reauthInAt < (ctx.init.reauthMinIntervalMs ?? REAUTH_MIN_INTERVAL_MS)) {
      stream.abort(new AuthError('RATE_LIMITED', 're-auth too soon after the last one'))
      return
    }
    state.reauthInAt = t
    try {
      await this.run(state, stream, false, AbortSignal.timeout(ctx.deadlineMs))
    } catch (err: any) {
      ctx.log('re-auth started by %p failed - %e', connection.remotePeer, err)
    }
  }

  /**
   * The exchange again, on its own stream and transcript label. Both sides present their current
   * certificates; on success the session rests on the peer's new one. A failure changes nothing.
   */
  private async run (state: ConnectionAuth, stream: Stream, opener: boolean, signal: AbortSignal): Promise<AuthenticatedPeer> {
    const ctx = this.ctx
    const c = state.connection
    const previous = sessionOf(state)
    if (previous == null) { throw new AuthError('NOT_AUTHENTICATED', 'session gone') }
    const startedAt = performance.now()
    const begun = ++this.begun
    const credentials = currentCredentials(ctx)
    let presented: Uint8Array[] = []
    let identity: PeerIdentity
    try {
      identity = await runExchange(stream, {
        role: c.direction === 'outbound' ? 'dialer' : 'listener',
        opener,
        localPeerId: ctx.components.peerId.toMultihash().bytes,
        remotePeerId: c.remotePeer.toMultihash().bytes,
        remotePeerIdString: c.remotePeer.toString(),
        credentials,
        nonce: ctx.init.nonce?.() ?? freshNonce(),
        signal,
        now: ctx.now,
        label: REAUTH_TRANSCRIPT_LABEL,
        examineHello: async (hello) => {
          presented = hello.chain
          const examined = await examineHello(ctx, hello, c.remotePeer.toString())
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
      ctx.results?.increment({ [`REAUTH_${e.code}`]: true })
      throw e
    }
    const current = sessionOf(state)
    if (current == null || c.status !== 'open') { throw new AuthError('CLOSED', 'connection closed during re-auth') }
    return this.install(state, identity, presented, { credentials, begun, startedAt, current })
  }

  /**
   * Both ends may re-authenticate the connection at once (each just rotated): the exchanges
   * cross, and the one that ends last can carry what was current when it began, on either side.
   * Keep the newest: our credentials by when the exchange began, the peer's certificate by
   * issuance. Installing the older one would let the session fall back onto a certificate about
   * to expire, and the watch would then close it (SESSION_EXPIRED under fleet-wide rotation).
   */
  private install (state: ConnectionAuth, identity: PeerIdentity, presented: Uint8Array[], ran: { credentials: { signer: { spki: Uint8Array } }, begun: number, startedAt: number, current: AuthenticatedPeer }): AuthenticatedPeer {
    const ctx = this.ctx
    const c = state.connection
    const { current } = ran
    if (ran.begun > (state.localBegun ?? 0)) {
      state.localSpki = ran.credentials.signer.spki
      state.localBegun = ran.begun
    }
    if (identity.notBefore < current.notBefore || (identity.notBefore === current.notBefore && identity.notAfter < current.notAfter)) {
      ctx.results?.increment({ REAUTH_STALE: true })
      ctx.log('re-auth of %p ended on serial %s, older than serial %s of a re-auth that crossed it: kept the newer', c.remotePeer, identity.serialHex, current.serialHex)
      return current
    }
    const peer = sessionFor(identity, c, ctx.now(), ran.startedAt)
    state.outcome = peer
    state.chain = presented
    delete state.refreshAskedAt
    ctx.results?.increment({ REAUTH_OK: true })
    ctx.log('re-authenticated %p node_id=%s serial %s -> %s', c.remotePeer, peer.nodeId, current.serialHex, peer.serialHex)
    ctx.emit('peer:reauthenticated', { ...peer, previousSerialHex: current.serialHex })
    return peer
  }
}
