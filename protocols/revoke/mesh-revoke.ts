import { serviceDependencies } from '@libp2p/interface'
import { encodeCrlMessage } from '../crl-gossip/codec.ts'
import { CrlMessageError } from '../crl-gossip/errors.ts'
import { DEFAULT_DEADLINE_MS, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, PROTOCOL, WIRE_VERSION } from './constants.ts'
import { RevokeError } from './errors.ts'
import { RevokeFrameIo } from './frame-io.ts'
import type { CrlValidationCode } from '../crl-gossip/errors.ts'
import type { CrlGossip } from '../crl-gossip/index.ts'
import type { AbortOptions, ComponentLogger, Connection, CounterGroup, Logger, Metrics, Startable, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'

/** The part of the auth service the revoke service needs (MeshAuth fits). */
export interface RevokeAuth {
  /** Wraps a handler so it only ever sees streams of authenticated connections. */
  guard(handler: StreamHandler): StreamHandler
  authenticatedConnections(): Array<{ connection: Connection, peer: { peerId: string } }>
}

export interface MeshRevokeComponents {
  registrar: { handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>, unhandle(protocol: string): Promise<void> }
  logger: ComponentLogger
  auth: RevokeAuth
  /** The CRL gossip service, registered as `crlGossip`: a pushed CRL gets its acceptance and is gossiped on. */
  crlGossip: Pick<CrlGossip, 'offer'>
  metrics?: Metrics
}

export interface MeshRevokeInit {
  /** Deadline of one push or one inbound exchange, ms. @default DEFAULT_DEADLINE_MS (5 s) */
  deadlineMs?: number
  /**
   * Called when a peer pushed something our CRL acceptance REJECTS (a forged or foreign CRL, a
   * malformed or oversized frame): the node strikes it in its block list like a failed auth.
   * A stale or expired CRL is not the pusher's fault and does not count.
   */
  onInvalidPush?(peerId: string, code: CrlValidationCode | RevokeError['code']): void
}

/** What one push to one peer came to. */
export interface PushOutcome {
  peerId: string
  /** The peer installed the CRL (it was newer than what it held). */
  ok: boolean
  /** The peer's acceptance code when it did not install it (NOT_NEWER: it had it already). */
  code?: CrlValidationCode
  /** `name:code` of a local failure (no stream, deadline, malformed answer). */
  error?: string
}

/** `/dadm-mesh/revoke/1.0.0`: push a CA-signed CRL to connected peers; accept pushed ones. */
export interface MeshRevoke extends Startable {
  readonly protocol: string
  /** Pushes `crlDer` to every authenticated peer at once; resolves one outcome per peer, never rejects. */
  push(crlDer: Uint8Array, options?: AbortOptions): Promise<PushOutcome[]>
  /** Pushes to one connection. */
  pushTo(connection: Connection, crlDer: Uint8Array, options?: AbortOptions): Promise<PushOutcome>
}

/** See `meshRevoke()` in index.ts. */
export class DefaultMeshRevoke implements MeshRevoke {
  readonly protocol = PROTOCOL
  readonly [serviceDependencies] = ['@dadm-mesh/auth']
  readonly [Symbol.toStringTag] = '@dadm-mesh/revoke'
  private readonly components: MeshRevokeComponents
  private readonly init: MeshRevokeInit
  private readonly log: Logger
  private readonly deadlineMs: number
  private readonly results?: CounterGroup
  private running = false

  constructor (components: MeshRevokeComponents, init: MeshRevokeInit = {}) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('dadm-mesh:revoke')
    this.deadlineMs = init.deadlineMs ?? DEFAULT_DEADLINE_MS
    this.results = components.metrics?.registerCounterGroup('dadm_mesh_revoke_push_total', { label: 'direction_result' })
  }

  async start (): Promise<void> {
    if (this.running) { return }
    this.running = true
    // Guarded: an unauthenticated peer can neither push to us nor be pushed to.
    // Also over relayed (limited) connections: a revocation must reach members behind NAT.
    await this.components.registrar.handle(PROTOCOL, this.components.auth.guard(async (stream, connection) => { await this.onPush(stream, connection) }), {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS,
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    if (!this.running) { return }
    this.running = false
    await this.components.registrar.unhandle(PROTOCOL).catch(() => {})
  }

  async push (crlDer: Uint8Array, options: AbortOptions = {}): Promise<PushOutcome[]> {
    // One connection per peer (the newest open one). All at once: the connection manager bounds
    // how many there are (maxConnections), and a push is one small round trip each.
    const targets = new Map<string, Connection>()
    for (const { connection, peer } of this.components.auth.authenticatedConnections()) {
      if (connection.status === 'open') { targets.set(peer.peerId, connection) }
    }
    return Promise.all([...targets.values()].map(async c => this.pushTo(c, crlDer, options)))
  }

  async pushTo (connection: Connection, crlDer: Uint8Array, options: AbortOptions = {}): Promise<PushOutcome> {
    const peerId = connection.remotePeer.toString()
    const signal = anySignal(options.signal, this.deadlineMs)
    let stream: Stream | undefined
    try {
      stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
      const io = new RevokeFrameIo(stream)
      await io.write({ t: 1, v: WIRE_VERSION, crl: crlDer }, { signal })
      const answer = await io.read({ signal })
      if (answer.t !== 2) { throw new RevokeError('MALFORMED_MESSAGE', 'expected a result frame') }
      await stream.close({ signal }).catch(() => {})
      this.count('out', answer.ok ? 'ok' : answer.code ?? 'refused')
      return { peerId, ok: answer.ok, ...(answer.code != null ? { code: answer.code } : {}) }
    } catch (err: any) {
      stream?.abort(err)
      this.log('push to %s failed - %e', peerId, err)
      this.count('out', 'error')
      return { peerId, ok: false, error: `${String(err?.name)}:${String(err?.code ?? 'FAILED')}` }
    }
  }

  /** Serves one push: read the CRL (size-checked), offer it to CRL gossip, answer with the verdict. */
  private async onPush (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(this.deadlineMs)
    try {
      const io = new RevokeFrameIo(stream)
      const frame = await io.read({ signal })
      // [REJECT] the opener speaks first, with a push
      if (frame.t !== 1) { throw new RevokeError('MALFORMED_MESSAGE', 'expected a push frame') }
      let code: CrlValidationCode | undefined
      let ok = false
      try {
        const verdict = await this.components.crlGossip.offer(encodeCrlMessage(frame.crl), 'push', from)
        ok = verdict.action === 'accept'
        if (verdict.action !== 'accept') {
          code = verdict.code
          if (verdict.action === 'reject') { this.init.onInvalidPush?.(from, verdict.code) }
        }
      } catch (err) {
        // [REJECT] a CRL too large for a CRL message
        if (!(err instanceof CrlMessageError)) { throw err }
        code = err.code
        this.init.onInvalidPush?.(from, err.code)
      }
      this.count('in', ok ? 'accept' : code ?? 'refused')
      this.log('push from %s: %s', from, ok ? 'installed' : code)
      await io.write(code == null ? { t: 2, ok } : { t: 2, ok, code }, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      if (err instanceof RevokeError) {
        this.count('in', err.code)
        this.init.onInvalidPush?.(from, err.code)
      }
      this.log('push from %s failed - %e', from, err)
      stream.abort(err)
    }
  }

  private count (direction: 'in' | 'out', result: string): void {
    this.results?.increment({ [`${direction}|${result}`]: 1 })
  }
}

function anySignal (signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  return signal == null ? timeout : AbortSignal.any([signal, timeout])
}
