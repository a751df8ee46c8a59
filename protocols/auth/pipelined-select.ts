import { AuthError } from './errors.ts'
import type { Connection, Stream, StreamMuxer } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/**
 * Opening the auth stream without the multistream-select round trip.
 *
 * `connection.newStream(protocol, { negotiateFully: false })` is documented to write the protocol
 * name together with the first data, but libp2p 3.3 always negotiates in full: it writes the
 * header and the protocol, then waits for both to come back before it returns the stream. On a
 * fresh QUIC connection that wait is a whole round trip (about 1 ms here, measured with
 * `.tmp/dial-prof.ts`), a quarter of what auth added to a dial.
 *
 * So the dialer opens a bare stream on the connection's muxer and sends the select lines and its
 * hello in one flight; they are all varint-length-prefixed messages, so one length-prefixed writer
 * carries both. The listener is unchanged libp2p: `mss.handle` reads the two lines, answers them,
 * and hands the stream to our handler with the hello still buffered. The dialer reads the two
 * answers before the listener's hello; a peer without the protocol answers "na", which is
 * refused as PROTOCOL_UNSUPPORTED, the same code a full negotiation gives.
 *
 * The muxer is not part of the Connection interface. When it is absent (another libp2p build, a
 * test double) the caller falls back to `newStream`.
 */

/** The multistream-select 1.0 protocol id, as both ends write it (with the newline). */
const MSS_HEADER = '/multistream/1.0.0\n'
const MSS_NA = 'na\n'

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

/** Opens a bare muxed stream for `protocol` on `connection`, or null when the muxer is out of reach. */
export async function openBareStream (connection: Connection, protocol: string, signal: AbortSignal): Promise<Stream | null> {
  const muxer = (connection as unknown as { muxer?: StreamMuxer }).muxer
  if (muxer == null || typeof muxer.createStream !== 'function') { return null }
  if (connection.status !== 'open' || muxer.status !== 'open') {
    throw new AuthError('CLOSED', 'connection closed before the auth stream opened')
  }
  signal.throwIfAborted()
  const stream = await muxer.createStream({ signal })
  // What newStream would have recorded: the stream shows under its protocol in connection.streams.
  stream.protocol = protocol
  return stream
}

/** The select lines to send ahead of the first frame on a bare stream. */
export function selectLines (protocol: string): Uint8Array[] {
  return [utf8.encode(MSS_HEADER), utf8.encode(`${protocol}\n`)]
}

/** Reads the listener's two select answers; anything but an echo of both is a refusal. */
export async function expectSelected (lp: LengthPrefixedStream<Stream>, protocol: string, options: { signal: AbortSignal }): Promise<void> {
  const header = utf8Decoder.decode((await lp.read(options)).subarray())
  if (header !== MSS_HEADER) {
    throw new AuthError('PROTOCOL_UNSUPPORTED', 'peer did not answer multistream-select')
  }
  const answer = utf8Decoder.decode((await lp.read(options)).subarray())
  if (answer === MSS_NA) {
    throw new AuthError('PROTOCOL_UNSUPPORTED', 'peer does not speak the auth protocol')
  }
  if (answer !== `${protocol}\n`) {
    throw new AuthError('PROTOCOL_UNSUPPORTED', 'peer selected a different protocol')
  }
}
