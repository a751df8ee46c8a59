import { openBareStream } from './bare-stream.ts'
import { claimableMuxer, claimableTransport, claimInboundStreams, handBack, isClaimed, isIntercepted, releaseStreams } from './first-stream.ts'
import { muxerOf } from './muxer-access.ts'
import { admitStream, recordProtocol } from './stream-admission.ts'
import type { AuthInternal, AuthStreamComponents, AuthStreamOpener, AuthStreamPath, AuthStreamPaths, OpenedAuthStream } from './stream-opener.ts'
import type { Connection, CounterGroup, Logger, Stream, StreamMuxerFactory, Transport } from '@libp2p/interface'

type Side = 'dialer' | 'listener'

/**
 * The stream opener on libp2p 3.3's internals (see stream-opener.ts for the contract).
 *
 * A node that wants the fast paths makes one opener, wraps its transports and muxer factory with
 * `transport()` and `muxer()`, and gives the same opener to the auth service. From then on every
 * connection of the node is expected to take them: a connection that cannot is an internal gone
 * missing, reported by name. An opener whose wrappers were never used (a plain libp2p node with
 * the auth service) still opens bare streams where the muxer is in reach, and counts its
 * listener's registrar streams as the fallback they are, with no error: nothing was promised.
 */
export class Libp2pAuthStreamOpener implements AuthStreamOpener {
  private components?: AuthStreamComponents
  private log?: Logger
  private metric?: CounterGroup
  /** The node wrapped its transports or muxer factory: every connection should be claimable. */
  private wrapped = false
  private readonly counts: AuthStreamPaths = { dialer: { fast: 0, fallback: 0 }, listener: { fast: 0, fallback: 0 }, missing: {} }
  /** Internals reported in the log already (each once), or waiting for a logger to be reported. */
  private readonly logged = new Set<AuthInternal>()
  /** Connections whose auth stream took a fast path: the peer store has not heard of it yet. */
  private readonly unrecorded = new WeakSet<Connection>()

  /** Wraps a transport that brings its own muxer (QUIC) so that its connections take the fast paths. */
  transport<C>(factory: (components: C) => Transport): (components: C) => Transport {
    this.wrapped = true
    return claimableTransport(factory, () => { this.missing('upgrader.muxerFactory') })
  }

  /** Wraps a stream-muxer factory (yamux for TCP) so that its muxers can be claimed. */
  muxer<C>(factory: (components: C) => StreamMuxerFactory): (components: C) => StreamMuxerFactory {
    this.wrapped = true
    return claimableMuxer(factory)
  }

  attach (components: AuthStreamComponents): void {
    this.components = components
    this.log = components.logger.forComponent('dadm-mesh:auth:streams')
    this.metric = components.metrics?.registerCounterGroup('dadm_mesh_auth_stream_paths_total', { label: 'path' })
    for (const name of Object.keys(this.counts.missing) as AuthInternal[]) { this.logMissing(name) }
  }

  async open (connection: Connection, protocol: string, signal: AbortSignal): Promise<OpenedAuthStream> {
    const stream = await openBareStream(connection, protocol, signal)
    if (stream == null) {
      this.unreachable(connection)
      this.count('dialer', 'fallback')
      return { stream: await connection.newStream(protocol, { signal, runOnLimitedConnection: true }), pipelined: false }
    }
    this.count('dialer', 'fast')
    this.admit(connection, stream, protocol)
    return { stream, pipelined: true }
  }

  claim (connection: Connection, sink: (stream: Stream) => void): boolean {
    if (claimInboundStreams(connection, sink)) { return true }
    const muxer = muxerOf(connection)
    if (muxer == null) {
      this.unreachable(connection)
    } else if (this.wrapped && !isIntercepted(muxer)) {
      this.missing('muxer.interceptor')
    }
    return false
  }

  accepted (connection: Connection, stream: Stream, protocol: string, path: AuthStreamPath): void {
    this.count('listener', path)
    if (path === 'fast') {
      this.admit(connection, stream, protocol)
    } else if (isClaimed(connection)) {
      this.missing('muxer.listenerOrder')
    }
  }

  release (connection: Connection): void {
    releaseStreams(connection)
  }

  handBack (connection: Connection, stream: Stream): void {
    handBack(connection, stream)
  }

  authenticated (connection: Connection, protocol: string): void {
    if (this.components == null || !this.unrecorded.has(connection)) { return }
    this.unrecorded.delete(connection)
    recordProtocol(this.components, connection, protocol, (err) => { this.log?.error('peer store did not record %s for %p - %e', protocol, connection.remotePeer, err) })
  }

  paths (): AuthStreamPaths {
    return { dialer: { ...this.counts.dialer }, listener: { ...this.counts.listener }, missing: { ...this.counts.missing } }
  }

  /** A fast-path stream gets what libp2p's own path would have given it; throws (stream aborted) when libp2p would refuse it. */
  private admit (connection: Connection, stream: Stream, protocol: string): void {
    if (this.components == null) { return }
    try {
      admitStream(this.components, connection, stream, protocol)
    } catch (err: any) {
      stream.abort(err)
      throw err
    }
    this.unrecorded.add(connection)
  }

  /** No muxer in reach: an internal gone missing when the connection is multiplexed (libp2p keeps a muxer for it). */
  private unreachable (connection: Connection): void {
    if (connection.multiplexer != null) { this.missing('connection.muxer') }
  }

  private count (side: Side, path: AuthStreamPath): void {
    this.counts[side][path]++
    this.metric?.increment({ [`${side}_${path}`]: true })
  }

  private missing (name: AuthInternal): void {
    this.counts.missing[name] = (this.counts.missing[name] ?? 0) + 1
    this.metric?.increment({ [`missing_${name}`]: true })
    this.logMissing(name)
  }

  private logMissing (name: AuthInternal): void {
    if (this.log == null || this.logged.has(name)) { return }
    this.logged.add(name)
    this.log.error('libp2p internal %s not found: auth streams take libp2p\'s slower public path; libp2p changed under its pinned range, or a transport is not wrapped (protocols/auth/stream-opener.ts)', name)
  }
}

/** A stream opener for one node: wrap its transports and muxer factory with it and pass it to `meshAuth({ streams })`. */
export function authStreamOpener (): Libp2pAuthStreamOpener {
  return new Libp2pAuthStreamOpener()
}
