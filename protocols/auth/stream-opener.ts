import type { AuthRegistrar } from './types.ts'
import type { ComponentLogger, Connection, Metrics, PeerId, Stream } from '@libp2p/interface'

/**
 * The one place where the auth service gets its stream, on both sides of a connection.
 *
 * The fast paths (the listener taking the auth stream from the muxer, the dialer's bare stream
 * opened during the upgrade) rest on libp2p internals that are not part of its interfaces. They
 * all sit behind this seam, so that a libp2p release that renames one shows up in one place: the
 * seam counts which path every connection's auth stream took and names each internal it could
 * not find (an error log line once, and a counter). The fast-path test asserts those counts, so
 * such a release fails the suite instead of making every dial slower unseen.
 */

/** Which way an auth stream came: the fast path on libp2p internals, or libp2p's public one. */
export type AuthStreamPath = 'fast' | 'fallback'

/** libp2p internals a fast path needs; each is reported by name when it is not there. */
export type AuthInternal =
  /** `Connection.muxer`: a multiplexed connection whose muxer cannot be reached. */
  | 'connection.muxer'
  /** The transport muxer factory in the upgrader's options (QUIC), which preopen and claim wrap. */
  | 'upgrader.muxerFactory'
  /** A muxer of this node without the stream interceptor (its transport or factory was not wrapped). */
  | 'muxer.interceptor'
  /** The interceptor runs after libp2p's own 'stream' listener: the auth stream reached the registrar while claimed. */
  | 'muxer.listenerOrder'

export const AUTH_INTERNALS: readonly AuthInternal[] = ['connection.muxer', 'upgrader.muxerFactory', 'muxer.interceptor', 'muxer.listenerOrder']

/** Per side, how many connections' auth streams took each path, and the internals found missing. */
export interface AuthStreamPaths {
  dialer: Record<AuthStreamPath, number>
  listener: Record<AuthStreamPath, number>
  missing: Partial<Record<AuthInternal, number>>
}

/** What the opener takes from libp2p's components (all public API). */
export interface AuthStreamComponents {
  logger: ComponentLogger
  registrar: Pick<AuthRegistrar, 'getHandler'>
  metrics?: Metrics
  peerStore?: { merge(peerId: PeerId, data: { protocols: string[] }): Promise<unknown> }
}

/** The dialer's auth stream; `pipelined` when the select lines are still to be sent with the hello. */
export interface OpenedAuthStream {
  stream: Stream
  pipelined: boolean
}

export interface AuthStreamOpener {
  /** Gives the opener the service's logger, registrar, metrics and peer store (once, at construction). */
  attach(components: AuthStreamComponents): void
  /** Dialer: the auth stream of `connection` for `protocol`, bare on the muxer when possible. */
  open(connection: Connection, protocol: string, signal: AbortSignal): Promise<OpenedAuthStream>
  /**
   * Both sides: every inbound stream of `connection` goes to `sink` until `release`. False when
   * the muxer cannot be claimed: libp2p then delivers streams through the registrar.
   */
  claim(connection: Connection, sink: (stream: Stream) => void): boolean
  /**
   * Listener: the auth stream of `connection` arrived, through the claim (`fast`) or the
   * registrar (`fallback`). A claimed stream is checked as libp2p checks its own (limited
   * connection, stream limit) and tracked in its metrics; throws when refused.
   */
  accepted(connection: Connection, stream: Stream, protocol: string, path: AuthStreamPath): void
  /** The connection authenticated: its later inbound streams go to libp2p. */
  release(connection: Connection): void
  /** Gives a claimed stream to libp2p after `release`, as if it had never been taken. */
  handBack(connection: Connection, stream: Stream): void
  /** The connection authenticated: on a fast path, the peer store learns the protocol. */
  authenticated(connection: Connection, protocol: string): void
  /** The counts so far (a copy). */
  paths(): AuthStreamPaths
}
