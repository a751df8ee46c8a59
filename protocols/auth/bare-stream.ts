import { AuthError } from './errors.ts'
import { muxerOf } from './muxer-access.ts'
import { takePreopenedStream } from './preopen.ts'
import type { Connection, Stream } from '@libp2p/interface'

/**
 * The dialer's auth stream straight from the connection's muxer, with no select yet: the select
 * lines ride with the hello (pipelined-select.ts). The stream opened during the upgrade is taken
 * when there is one (preopen.ts). Null when the muxer is out of reach (it is not part of the
 * Connection interface): the stream opener then uses `newStream` and says so.
 */
export async function openBareStream (connection: Connection, protocol: string, signal: AbortSignal): Promise<Stream | null> {
  const muxer = muxerOf(connection)
  if (muxer == null || typeof muxer.createStream !== 'function') { return null }
  if (connection.status !== 'open' || muxer.status !== 'open') {
    throw new AuthError('CLOSED', 'connection closed before the auth stream opened')
  }
  signal.throwIfAborted()
  const stream = takePreopenedStream(connection) ?? await muxer.createStream({ signal })
  // What newStream would have recorded: the stream shows under its protocol in connection.streams.
  stream.protocol = protocol
  return stream
}
