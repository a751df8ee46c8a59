import { VarintFrames } from '../../src/util/varint-frames.ts'
import { decodeFrame, encodeFrame } from './codec.ts'
import { MAX_ACK_FRAME_BYTES, MAX_FRAME_BYTES, MAX_READ_BUFFER_BYTES, WINDOW, WINDOW_BYTES } from './constants.ts'
import { BundleProtocolError } from './errors.ts'
import type { Frame } from './codec.ts'
import type { AbortOptions, MessageStream } from '@libp2p/interface'

export { encodeVarint, varintLength } from '../../src/util/varint-frames.ts'

/**
 * Bundle protocol frames on a stream: length-prefixed with the limit enforced on the prefix
 * (src/util/varint-frames.ts says why not lpStream). The buffer holds a full window of bundle
 * frames plus the ACKs that may be queued beside them.
 */
export class FrameStream<S extends MessageStream = MessageStream> {
  readonly maxFrameBytes: number
  readonly #frames: VarintFrames<S>

  constructor (stream: S, maxFrameBytes = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes
    this.#frames = new VarintFrames(stream, {
      maxFrameBytes,
      maxBufferSize: Math.max(MAX_READ_BUFFER_BYTES, WINDOW_BYTES + maxFrameBytes + WINDOW * 8 + MAX_ACK_FRAME_BYTES),
      refuse: {
        tooLarge: (message) => new BundleProtocolError('FRAME_TOO_LARGE', message),
        empty: () => new BundleProtocolError('MALFORMED_FRAME', 'empty frame')
      }
    })
  }

  /** Reads and decodes the next frame; null when the peer closed cleanly between frames. */
  async read (options: AbortOptions = {}): Promise<Frame | null> {
    const body = await this.#frames.read(options)
    return body == null ? null : decodeFrame(body, this.maxFrameBytes)
  }

  /** Encodes and writes one frame with its length prefix. */
  async write (frame: Frame, options: AbortOptions = {}): Promise<void> {
    await this.#frames.write(encodeFrame(frame, this.maxFrameBytes), options)
  }
}
