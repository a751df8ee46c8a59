import { LimitedConnectionError, TooManyInboundProtocolStreamsError, TooManyOutboundProtocolStreamsError } from '@libp2p/interface'
import type { AuthStreamComponents } from './stream-opener.ts'
import type { Connection, Stream, StreamHandlerOptions } from '@libp2p/interface'

/**
 * What libp2p does with a negotiated stream before its handler runs, done for an auth stream
 * that a fast path took past libp2p (stream-opener), on public API only: the limited-connection
 * check, the per-protocol stream limits registered with the handler, and the protocol metrics.
 * The peer-store merge is `recordProtocol`, run once the peer has authenticated.
 *
 * Errors are libp2p's own classes, so a refused stream reads the same on either path.
 */

/**
 * Refuses `stream` (not yet counted: its protocol may still be unset) when libp2p would: on a
 * limited connection without `runOnLimitedConnection`, or beyond the protocol's stream limit
 * for its direction. Else tracks it in the node's metrics.
 */
export function admitStream (components: AuthStreamComponents, connection: Connection, stream: Stream, protocol: string): void {
  const options = handlerOptions(components, protocol)
  if (connection.limits != null && options.runOnLimitedConnection !== true) {
    throw new LimitedConnectionError('Cannot run the auth protocol on a limited connection')
  }
  const inbound = stream.direction === 'inbound'
  const limit = inbound ? options.maxInboundStreams : options.maxOutboundStreams
  if (limit != null) {
    const count = 1 + connection.streams.filter(s => s !== stream && s.direction === stream.direction && s.protocol === protocol).length
    if (count > limit) {
      const message = `Too many ${stream.direction} protocol streams for protocol "${protocol}" - ${count}/${limit}`
      throw inbound ? new TooManyInboundProtocolStreamsError(message) : new TooManyOutboundProtocolStreamsError(message)
    }
  }
  components.metrics?.trackProtocolStream(stream)
}

/**
 * Records in the peer store that the peer speaks `protocol`, in the background: nothing waits on
 * it, and a peer-store failure costs the record, never the connection.
 */
export function recordProtocol (components: AuthStreamComponents, connection: Connection, protocol: string, onError: (err: Error) => void): void {
  const merge = components.peerStore?.merge(connection.remotePeer, { protocols: [protocol] })
  merge?.catch(onError)
}

/** The options the protocol's handler was registered with; none while it is not handled. */
function handlerOptions (components: AuthStreamComponents, protocol: string): StreamHandlerOptions {
  try {
    return components.registrar.getHandler(protocol).options
  } catch {
    return {}
  }
}
