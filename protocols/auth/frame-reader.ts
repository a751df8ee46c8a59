import { raceAbort } from '../../src/util/race-abort.ts'
import { varintLength } from '../../src/util/varint-frames.ts'
import { MAX_FRAME_BYTES, MAX_READ_BUFFER_BYTES } from './constants.ts'
import { AuthError } from './errors.ts'
import type { Stream } from '@libp2p/interface'

/**
 * Reads the auth stream's varint-length-prefixed frames (the select lines and the exchange's
 * frames alike).
 *
 * `lpStream` reads a length prefix one byte at a time, each byte a promise, a signal race and a
 * Uint8ArrayList walk, all on each side's critical path of a dial. Here the bytes that came are
 * kept as they came and a frame is cut out of them in one pass. One reader serves a stream from
 * the select lines to the last frame (`frameReaderOf`), so the listener does not unwrap one
 * reader and wrap another in between.
 *
 * Limits, lpStream's with our maximum: a frame over MAX_FRAME_BYTES, a length prefix longer
 * than that value needs, or more than MAX_READ_BUFFER_BYTES unread (the stream is then aborted)
 * is FRAME_TOO_LARGE; a stream that ends before the next whole frame is CLOSED.
 */
export class FrameReader {
  private readonly stream: Stream
  private chunks: Uint8Array[] = []
  private buffered = 0
  private ended = false
  private failure?: Error
  /** Reads waiting for bytes (one, in the exchange); all are woken by anything that happens. */
  private waiting: Array<() => void> = []
  private released = false

  constructor (stream: Stream) {
    this.stream = stream
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('remoteCloseWrite', this.onRemoteEnd)
  }

  /** Bytes received and not yet read as frames. */
  get bufferedBytes (): number {
    return this.buffered
  }

  /** The next frame's contents; waits for it until `signal` aborts. */
  async read (options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    for (;;) {
      if (this.released) { throw new AuthError('CLOSED', 'frame reader released') }
      const frame = this.nextFrame()
      if (frame != null) { return frame }
      if (this.failure != null) { throw this.failure }
      if (this.ended || this.remoteDone()) { throw new AuthError('CLOSED', this.buffered > 0 ? 'auth stream ended inside a frame' : 'auth stream ended') }
      const { promise, resolve } = Promise.withResolvers<void>()
      this.waiting.push(resolve)
      try {
        await (options.signal == null ? promise : raceAbort(promise, options.signal))
      } finally {
        this.waiting = this.waiting.filter(w => w !== resolve)
      }
    }
  }

  /**
   * Stops reading and puts `before` (bytes already taken, e.g. select lines read as frames) and
   * everything unread back on the stream, in order: the stream is as it came, for libp2p's own
   * reader.
   */
  release (before: Uint8Array[] = []): void {
    if (this.released) { return }
    this.released = true
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteEnd)
    readers.delete(this.stream)
    const rest = [...before, ...this.chunks]
    this.chunks = []
    this.buffered = 0
    if (rest.length > 0) { this.stream.unshift(Buffer.concat(rest)) }
  }

  /** Cuts one whole frame off the front of what came, or returns undefined when it has not all come. */
  private nextFrame (): Uint8Array | undefined {
    if (this.buffered === 0) { return undefined }
    if (this.chunks.length > 1) { this.chunks = [Buffer.concat(this.chunks)] }
    const buf = this.chunks[0]
    let length = 0
    let i = 0
    for (; ; i++) {
      if (i >= MAX_PREFIX_BYTES) { throw this.fail(new AuthError('FRAME_TOO_LARGE', 'frame length prefix too long')) }
      if (i >= buf.byteLength) { return undefined }
      const b = buf[i]
      length += (b & 0x7f) * 2 ** (7 * i)
      if (b < 0x80) { break }
    }
    if (length > MAX_FRAME_BYTES) { throw this.fail(new AuthError('FRAME_TOO_LARGE', `frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`)) }
    const end = i + 1 + length
    if (buf.byteLength < end) { return undefined }
    const frame = buf.subarray(i + 1, end)
    this.buffered -= end
    this.chunks = this.buffered > 0 ? [buf.subarray(end)] : []
    return frame
  }

  /**
   * The peer has finished writing and the stream holds nothing more for us. Checked as well as
   * the events, because a stream that ended before this reader existed sends no event again
   * (its last bytes still reach us, from the stream's buffer, after the reader is made).
   */
  private remoteDone (): boolean {
    return this.stream.remoteWriteStatus !== 'writable' && this.stream.readBufferLength === 0
  }

  private fail (err: AuthError): AuthError {
    this.failure = err
    this.chunks = []
    this.buffered = 0
    return err
  }

  private wakeAll (): void {
    for (const wake of this.waiting) { wake() }
  }

  private readonly onMessage = (evt: Event): void => {
    if (this.failure != null) { return }
    const data = (evt as Event & { data: { subarray(): Uint8Array } }).data.subarray()
    this.chunks.push(data)
    this.buffered += data.byteLength
    if (this.buffered > MAX_READ_BUFFER_BYTES) {
      const err = this.fail(new AuthError('FRAME_TOO_LARGE', `more than ${MAX_READ_BUFFER_BYTES} unread bytes`))
      // Let the stream finish dispatching this event before it is torn down.
      queueMicrotask(() => { this.stream.abort(err) })
    }
    this.wakeAll()
  }

  private readonly onClose = (evt: Event): void => {
    const error = (evt as Event & { error?: Error }).error
    if (error != null) { this.failure ??= error }
    this.ended = true
    this.wakeAll()
  }

  private readonly onRemoteEnd = (): void => {
    this.ended = true
    this.wakeAll()
  }
}

/** Bytes of the varint that encodes MAX_FRAME_BYTES: a longer prefix cannot be a frame we take. */
const MAX_PREFIX_BYTES = varintLength(MAX_FRAME_BYTES)

const readers = new WeakMap<Stream, FrameReader>()

/** The stream's reader, made on first use; the same one until it is released. */
export function frameReaderOf (stream: Stream): FrameReader {
  let reader = readers.get(stream)
  if (reader == null) {
    reader = new FrameReader(stream)
    readers.set(stream, reader)
  }
  return reader
}
