import { muxerOf, withMethod } from './muxer-access.ts'
import { preopeningUpgrader } from './preopen.ts'
import type { Connection, Stream, StreamMuxer, StreamMuxerFactory, Transport, Upgrader } from '@libp2p/interface'

/**
 * The listener takes the first inbound stream of an inbound connection straight from the muxer.
 *
 * Our dialer opens the auth stream before anything else (mesh-auth.ts, on connection:open), and a
 * peer gets no other protocol before auth anyway. libp2p would hand that stream to
 * `mss.handle`, which answers the two select lines with two writes, each waited out (a QUIC
 * stream write resolves through the native binding: a few hundred microseconds each), then
 * records the protocol in the peer store, and only then calls our handler. That was about
 * 1.3 ms of the listener's 2 ms between the dialer's hello and its reply (timing marks in both
 * processes of the dial benchmark's set-up).
 *
 * So the muxer of every inbound connection gets a 'stream' listener ahead of libp2p's own (it is
 * added when the muxer is made, before the Connection exists). The first stream is taken
 * (`stopImmediatePropagation`) when the auth service has claimed that muxer; the service reads
 * the select lines itself and answers them without waiting (mesh-auth.ts `onFirstStream`). A
 * first stream that asks for another protocol is handed back with its lines unread (`handBack`),
 * and any later stream, or the first of a muxer nobody claimed, goes to libp2p as usual.
 *
 * Two ways in: QUIC brings its own muxer per connection, handed to the upgrader, so its transport
 * is wrapped (`claimableTransport`); TCP negotiates yamux, so that factory is wrapped
 * (`claimableMuxer`). The muxer is not part of the Connection interface; without one (another
 * libp2p build, a test double) nothing is claimed and libp2p's path stays.
 */

type FirstStreamSink = (stream: Stream) => void

/** Muxers that have the interceptor and have not had a stream yet; only these can be claimed. */
const interceptable = new WeakSet<object>()
/** The claim on a muxer's first inbound stream, until that stream arrives. */
const claims = new WeakMap<object, FirstStreamSink>()

function intercept (muxer: StreamMuxer): void {
  muxer.addEventListener('stream', (evt) => {
    if (!interceptable.has(muxer)) { return }
    interceptable.delete(muxer)
    const sink = claims.get(muxer)
    claims.delete(muxer)
    if (sink == null) { return }
    evt.stopImmediatePropagation()
    sink(evt.detail)
  })
  interceptable.add(muxer)
}

/**
 * Claims the first inbound stream of `connection` for `sink`. False when that is not possible
 * (no intercepting muxer, its first stream came already, or it is claimed): libp2p then delivers
 * the auth stream through the registrar.
 */
export function claimFirstInboundStream (connection: Connection, sink: FirstStreamSink): boolean {
  const muxer = muxerOf(connection)
  if (muxer == null || !interceptable.has(muxer) || claims.has(muxer)) { return false }
  claims.set(muxer, sink)
  return true
}

/**
 * Gives a claimed stream back to libp2p, as if it had never been taken: for a first stream that
 * asked for another protocol (the peer gets what libp2p gives any unauthenticated peer).
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
      intercept(muxer)
      return muxer
    }
  }
}

/**
 * A transport (QUIC) that hands its own muxer factory to the upgrader: on inbound connections the
 * listener's upgrader is wrapped so that factory's muxers can be claimed, and on outbound ones
 * the dialer's, so that the auth stream is opened during the upgrade (preopen.ts). Everything
 * else (symbols included) is the inner transport's.
 */
export function claimableTransport<C> (factory: (components: C) => Transport): (components: C) => Transport {
  return (components) => {
    const listening = withMethod(factory(components), 'createListener', (inner) => (options) => inner.createListener({ ...options, upgrader: claimingUpgrader(options.upgrader) }))
    return withMethod(listening, 'dial', (inner) => async (ma, options) => inner.dial(ma, { ...options, upgrader: preopeningUpgrader(options.upgrader) }))
  }
}

function claimingUpgrader (upgrader: Upgrader): Upgrader {
  return withMethod(upgrader, 'upgradeInbound', (inner) => async (maConn, opts: any) => inner.upgradeInbound(maConn, opts?.muxerFactory == null ? opts : { ...opts, muxerFactory: wrapFactory(opts.muxerFactory) }))
}
