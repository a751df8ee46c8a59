import { raceAbort } from '../../src/util/race-abort.ts'
import { muxerOf, withMethod } from './muxer-access.ts'
import type { Connection, Stream, StreamMuxer, StreamMuxerFactory, Upgrader } from '@libp2p/interface'

/**
 * The dialer's auth stream is open before libp2p announces the connection.
 *
 * A QUIC stream opens through the native binding: the call returns a promise that the binding
 * settles on a later turn of the event loop. Opened from `connection:open`, that turn comes only
 * after libp2p has finished its own work on the new connection (the upgrade's tail, the dial
 * queue, the peer-store merge), and the hello waits behind all of it. So the dialer's upgrade
 * makes the muxer itself, waits for one stream (nothing else is queued yet, so it comes at
 * once), and only then lets libp2p go on with that muxer; at `connection:open` the stream is
 * there and the hello goes out in the same turn, ahead of libp2p's bookkeeping.
 *
 * Every outbound connection of a mesh node is authenticated, and we open its auth stream first
 * (the stream opener's `open`), so the stream opened here is always the one taken. A QUIC
 * stream costs nothing on the wire until data is written on it, so one left untaken (the
 * connection closed first, or auth never started) is dropped with its connection unseen.
 */

/** The pre-opened stream of an outbound muxer, until the auth service takes it. */
const preopened = new WeakMap<object, Stream>()

/**
 * Takes the stream opened for `connection` during its upgrade, once; undefined when there is
 * none (inbound, another transport, taken already): the caller opens one itself.
 */
export function takePreopenedStream (connection: Connection): Stream | undefined {
  const muxer = muxerOf(connection)
  if (muxer == null) { return undefined }
  const stream = preopened.get(muxer)
  preopened.delete(muxer)
  return stream
}

/**
 * A dialer's upgrader whose muxer (when the transport brings one: QUIC) opens a stream at once.
 * `prepare` sees the muxer first (first-stream.ts puts its stream interceptor on it);
 * `onNoMuxerFactory` hears of an upgrade that brought no muxer factory.
 */
export function preopeningUpgrader (upgrader: Upgrader, prepare: (muxer: StreamMuxer) => void = () => {}, onNoMuxerFactory: () => void = () => {}): Upgrader {
  return withMethod(upgrader, 'upgradeOutbound', (inner) => async (maConn, opts: any) => {
    const factory: StreamMuxerFactory | undefined = opts?.muxerFactory
    if (factory == null) {
      onNoMuxerFactory()
      return inner.upgradeOutbound(maConn, opts)
    }
    const muxer = factory.createStreamMuxer(maConn)
    prepare(muxer)
    try {
      const opening = muxer.createStream()
      preopened.set(muxer, await (opts.signal == null ? opening : raceAbort(opening, opts.signal)))
    } catch {
      // No stream yet: the upgrade goes on, and auth opens its own (and meets the same trouble).
    }
    return inner.upgradeOutbound(maConn, { ...opts, muxerFactory: { protocol: factory.protocol, createStreamMuxer: () => muxer } })
  })
}
