import { encodeVarint } from '../../src/util/varint-frames.ts'
import { FAILURE_FLUSH_MS } from './constants.ts'
import { AuthError } from './errors.ts'
import { frameReaderOf } from './frame-reader.ts'
import { queueFrames } from './frame-writer.ts'
import type { FrameSource } from './frame-writer.ts'
import type { Stream } from '@libp2p/interface'

/**
 * Multistream-select without its round trip, on public stream API.
 *
 * `connection.newStream(protocol, { negotiateFully: false })` is documented to write the protocol
 * name together with the first data, but libp2p 3.3 always negotiates in full: it writes the
 * header and the protocol, then waits for both to come back before it returns the stream. On a
 * fresh connection that wait is a whole round trip before the first auth frame can leave.
 *
 * So the dialer sends the select lines and its hello in one flight on a bare stream (bare-stream.ts,
 * through the stream opener); they are all varint-length-prefixed messages, so one
 * length-prefixed writer carries both. The listener, libp2p's `mss.handle` or our claimed-stream
 * reader (`readSelect`, `acceptSelect`), answers the two lines with the hello still buffered. The
 * dialer reads the two answers before the listener's hello; a peer without the protocol answers
 * "na", which is refused as PROTOCOL_UNSUPPORTED, the same code a full negotiation gives.
 */

/** The multistream-select 1.0 protocol id, as both ends write it (with the newline). */
const MSS_HEADER = '/multistream/1.0.0\n'
const MSS_NA = 'na\n'

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

const encodedLines = new Map<string, [Uint8Array, Uint8Array]>()

/** The select lines to send ahead of the first frame on a bare stream (each protocol's encoded once; the bytes are only ever written out). */
export function selectLines (protocol: string): Uint8Array[] {
  let lines = encodedLines.get(protocol)
  if (lines == null) {
    lines = [utf8.encode(MSS_HEADER), utf8.encode(`${protocol}\n`)]
    encodedLines.set(protocol, lines)
  }
  return [...lines]
}

/** Reads the listener's two select answers; anything but an echo of both is a refusal. */
export async function expectSelected (lp: FrameSource, protocol: string, options: { signal: AbortSignal }): Promise<void> {
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

/** Longest select line we read on a claimed stream (libp2p's own limit for protocol names). */
const MAX_SELECT_LINE = 1024

/** The select lines read from a claimed stream, and their bytes, to put back if it goes to libp2p. */
export interface SelectRequest {
  /** The stream opened with the multistream-select 1.0 header. */
  header: boolean
  /** The protocol line after it, without its newline (`ls` included), when there was a header. */
  protocol?: string
  /** The lines read, as read. */
  read: Uint8Array[]
}

/**
 * Reads the header and the protocol line of a claimed stream (the dialer sends both at once, as
 * libp2p's `select` and ours do). A line over libp2p's own limit is FRAME_TOO_LARGE.
 */
export async function readSelect (stream: Stream, options: { signal: AbortSignal }): Promise<SelectRequest> {
  // The exchange goes on with this reader (frameReaderOf), and so with what it has buffered.
  const reader = frameReaderOf(stream)
  const read: Uint8Array[] = []
  const line = async (): Promise<string> => {
    const bytes = await reader.read(options)
    // libp2p's own limit for a protocol line: a longer one is refused, as lpStream refused it.
    if (bytes.byteLength > MAX_SELECT_LINE) { throw new AuthError('FRAME_TOO_LARGE', `select line of ${bytes.byteLength} bytes`) }
    read.push(bytes)
    return utf8Decoder.decode(bytes)
  }
  if (await line() !== MSS_HEADER) { return { header: false, read } }
  const protocol = await line()
  return { header: true, protocol: protocol.endsWith('\n') ? protocol.slice(0, -1) : protocol, read }
}

/** Puts the lines read back on the stream, in front of what is still buffered: the stream is as it came, for libp2p. */
export function putBack (stream: Stream, request: SelectRequest): void {
  frameReaderOf(stream).release(request.read.flatMap(b => [encodeVarint(b.byteLength), b]))
}

/**
 * Answers a select with "na" (after the header, when the dialer sent one) and resets the stream
 * once that has had FAILURE_FLUSH_MS to leave: what a peer gets for anything but auth before
 * auth, so it learns no protocol id, not even which of its guesses exist.
 */
export function refuseSelect (stream: Stream, request: Pick<SelectRequest, 'header'>, reason: AuthError): void {
  const reset = (): void => { if (stream.status === 'open' || stream.status === 'closing') { stream.abort(reason) } }
  try {
    queueFrames(stream, request.header ? [utf8.encode(MSS_HEADER), utf8.encode(MSS_NA)] : [utf8.encode(MSS_NA)])
  } catch {
    reset()
    return
  }
  stream.close({ signal: AbortSignal.timeout(FAILURE_FLUSH_MS) }).then(reset, reset)
}

/** What `answerSelect` found on a claimed stream. */
export interface SelectAnswer {
  /**
   * The dialer asked for our protocol. Else the lines read are back on the stream, unanswered,
   * for libp2p's own select to read them again (first-stream.ts `handBack`).
   */
  selected: boolean
  /**
   * The answer lines, when they were not sent: the dialer had already pipelined its hello after
   * the lines, so it is not waiting for them; they go out in front of our first frame.
   */
  unsent?: Uint8Array[]
}

/**
 * The listener's half on a stream it claimed before libp2p saw it (first-stream.ts): reads the
 * two select lines and, when they ask for `protocol`, answers them as `mss.handle` would
 * (`acceptSelect`); else puts them back unanswered.
 */
export async function answerSelect (stream: Stream, protocol: string, options: { signal: AbortSignal }): Promise<SelectAnswer> {
  const request = await readSelect(stream, options)
  if (request.protocol !== protocol) {
    putBack(stream, request)
    return { selected: false }
  }
  return acceptSelect(stream, protocol, options)
}

/**
 * Answers select lines that asked for `protocol`. A dialer that negotiates in full waits for
 * that answer before its hello, so then it is sent at once (not waited for). A dialer that
 * pipelined its hello behind the lines (ours) is not waiting: its hello is buffered already, and
 * the answer is handed back to ride with our first frame, saving a write through the QUIC binding
 * that the reply would otherwise queue behind. The hello stays on the stream for the exchange.
 */
export function acceptSelect (stream: Stream, protocol: string, options: { signal: AbortSignal }): SelectAnswer {
  const lines = selectLines(protocol)
  stream.protocol = protocol
  if (frameReaderOf(stream).bufferedBytes > 0 || stream.readBufferLength > 0) {
    return { selected: true, unsent: lines }
  }
  // A failed write aborts the stream; the exchange that follows sees that.
  queueFrames(stream, lines, options.signal)
  return { selected: true }
}
