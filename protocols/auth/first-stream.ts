import { MAX_HELD_STREAMS } from './constants.ts'
import { AuthError } from './errors.ts'
import { muxerOf, withMethod } from './muxer-access.ts'
import { preopeningUpgrader } from './preopen.ts'
import type { Connection, Stream, StreamMuxer, StreamMuxerFactory, Transport, Upgrader } from '@libp2p/interface'

/**
 * Until a connection has authenticated, its inbound streams are ours, not libp2p's.
 *
 * libp2p hands every inbound stream to `mss.handle`, which answers the select lines from the
 * registrar's list: it echoes any protocol we handle and answers `ls` with all of them, before
 * any handler (and so the auth guard) runs. A stranger would learn every protocol id without a
 * certificate. So the muxer of every connection gets a 'stream' listener ahead of libp2p's own
 * (it is added when the muxer is made, before the Connection exists), and while the muxer is
 * not released every inbound stream is taken (`stopImmediatePropagation`) and given to the auth
 * service's sink (mesh-auth.ts `onPreauthStream`): the auth stream runs the exchange, anything
 * else gets "na" or waits for the verdict. A stream that comes before the service has claimed
 * the muxer waits for the claim (at most MAX_HELD_STREAMS of them). Once the connection has
 * authenticated the service releases the muxer: later streams, and the held ones it hands back
 * (`handBack`), go to libp2p as usual.
 *
 * Taking the auth stream from the muxer also saves the listener libp2p's select: two writes,
 * each waited out, and a peer-store update, all before our handler would run, on the critical
 * path of every dial. What that select did besides (limits, metrics, the peer-store record) the
 * stream opener does again on public API (stream-admission.ts).
 *
 * Two ways in: QUIC brings its own muxer per connection, handed to the upgrader, so its transport
 * is wrapped (`claimableTransport`, both directions); TCP negotiates yamux, so that factory is
 * wrapped (`claimableMuxer`). The muxer is not part of the Connection interface: only the stream
 * opener (libp2p-stream-opener.ts) calls in here, and it reports a muxer it cannot reach or claim.
 */

type StreamSink = (stream: Stream) => void

interface Gate {
  sink?: StreamSink
  /** Streams that came before the claim. */
  early: Stream[]
  released: boolean
}

/** The gate of every muxer with the interceptor. */
const gates = new WeakMap<object, Gate>()

/** Puts the interceptor on `muxer`: its inbound streams wait for a claim from here on. */
export function interceptStreams (muxer: StreamMuxer): void {
  if (gates.has(muxer)) { return }
  const gate: Gate = { early: [], released: false }
  gates.set(muxer, gate)
  muxer.addEventListener('stream', (evt) => {
    if (gate.released) { return }
    evt.stopImmediatePropagation()
    if (gate.sink != null) {
      gate.sink(evt.detail)
    } else if (gate.early.length < MAX_HELD_STREAMS) {
      gate.early.push(evt.detail)
    } else {
      evt.detail.abort(new AuthError('NOT_AUTHENTICATED', 'too many streams before auth'))
    }
  })
}

/**
 * Claims every inbound stream of `connection` for `sink` until `releaseStreams`; streams that
 * came before are given to it at once. False when that is not possible (no intercepting muxer, or
 * it is claimed or released already): libp2p then delivers streams through the registrar.
 */
export function claimInboundStreams (connection: Connection, sink: StreamSink): boolean {
  const muxer = muxerOf(connection)
  const gate = muxer == null ? undefined : gates.get(muxer)
  if (gate == null || gate.sink != null || gate.released) { return false }
  gate.sink = sink
  for (const stream of gate.early.splice(0)) { sink(stream) }
  return true
}

/** True when `muxer` carries the interceptor (a wrapped transport or factory made it). */
export function isIntercepted (muxer: StreamMuxer): boolean {
  return gates.has(muxer)
}

/** True while the inbound streams of `connection` are claimed and not yet released. */
export function isClaimed (connection: Connection): boolean {
  const muxer = muxerOf(connection)
  const gate = muxer == null ? undefined : gates.get(muxer)
  return gate?.sink != null && !gate.released
}

/** The connection authenticated: its later inbound streams go to libp2p. */
export function releaseStreams (connection: Connection): void {
  const muxer = muxerOf(connection)
  const gate = muxer == null ? undefined : gates.get(muxer)
  if (gate == null) { return }
  gate.released = true
  delete gate.sink
  for (const stream of gate.early.splice(0)) { handBack(connection, stream) }
}

/**
 * Gives a claimed stream to libp2p, as if it had never been taken (after `releaseStreams`, so
 * the interceptor lets it through): a stream held until the verdict, its select lines put back.
 */
export function handBack (connection: Connection, stream: Stream): void {
  const muxer = muxerOf(connection)
  if (muxer == null || connection.status !== 'open') {
    stream.abort(new Error('connection gone before the stream was handed back'))
    return
  }
  muxer.dispatchEvent(new CustomEvent('stream', { detail: stream }))
}

/** A stream-muxer factory (yamux for TCP) whose muxers can have their first stream claimed. */
export function claimableMuxer<C> (factory: (components: C) => StreamMuxerFactory): (components: C) => StreamMuxerFactory {
  return (components) => wrapFactory(factory(components))
}

function wrapFactory (inner: StreamMuxerFactory): StreamMuxerFactory {
  return {
    protocol: inner.protocol,
    createStreamMuxer: (maConn) => {
      const muxer = inner.createStreamMuxer(maConn)
      interceptStreams(muxer)
      return muxer
    }
  }
}

/**
 * A transport (QUIC) that hands its own muxer factory to the upgrader: on inbound connections the
 * listener's upgrader is wrapped so that factory's muxers can be claimed, and on outbound ones
 * the dialer's, so that the auth stream is opened during the upgrade (preopen.ts) and the
 * listener's streams to us wait for our verdict too. Everything else (symbols included) is the
 * inner transport's.
 */
export function claimableTransport<C> (factory: (components: C) => Transport, onNoMuxerFactory: () => void = () => {}): (components: C) => Transport {
  return (components) => {
    const listening = withMethod(factory(components), 'createListener', (inner) => (options) => inner.createListener({ ...options, upgrader: claimingUpgrader(options.upgrader, onNoMuxerFactory) }))
    return withMethod(listening, 'dial', (inner) => async (ma, options) => inner.dial(ma, { ...options, upgrader: preopeningUpgrader(options.upgrader, interceptStreams, onNoMuxerFactory) }))
  }
}

/** The listener's upgrader; `onNoMuxerFactory` hears of an upgrade whose transport brought no muxer factory to wrap. */
function claimingUpgrader (upgrader: Upgrader, onNoMuxerFactory: () => void): Upgrader {
  return withMethod(upgrader, 'upgradeInbound', (inner) => async (maConn, opts: any) => {
    if (opts?.muxerFactory == null) {
      onNoMuxerFactory()
      return inner.upgradeInbound(maConn, opts)
    }
    return inner.upgradeInbound(maConn, { ...opts, muxerFactory: wrapFactory(opts.muxerFactory) })
  })
}
