import { VarintFrames } from '../../src/util/varint-frames.ts'
import { decodeRevokeFrame, encodeRevokeFrame } from './codec.ts'
import { MAX_FRAME_BYTES } from './constants.ts'
import { RevokeError } from './errors.ts'
import type { RevokeFrame } from './codec.ts'
import type { AbortOptions, MessageStream } from '@libp2p/interface'

export { encodeVarint } from '../../src/util/varint-frames.ts'

/**
 * One revoke frame at a time on a stream: unsigned LEB128 length prefix, then the CBOR body,
 * the limit enforced on the prefix before one body byte is read (src/util/varint-frames.ts).
 */
export class RevokeFrameIo<S extends MessageStream = MessageStream> {
  readonly #frames: VarintFrames<S>

  constructor (stream: S, maxFrameBytes = MAX_FRAME_BYTES) {
    this.#frames = new VarintFrames(stream, {
      maxFrameBytes,
      // One frame and its prefix: the protocol never has two frames in flight one way.
      maxBufferSize: maxFrameBytes + 8,
      refuse: {
        tooLarge: (message) => new RevokeError('FRAME_TOO_LARGE', message),
        empty: () => new RevokeError('MALFORMED_MESSAGE', 'empty frame')
      }
    })
  }

  /** Reads and decodes one frame. Throws RevokeError (FRAME_TOO_LARGE, MALFORMED_MESSAGE, ...) or the stream's error. */
  async read (options: AbortOptions = {}): Promise<RevokeFrame> {
    const body = await this.#frames.read(options)
    // A clean close where a frame was due is an end of stream like any other.
    if (body == null) { throw Object.assign(new Error('stream ended before a frame'), { name: 'UnexpectedEOFError' }) }
    return decodeRevokeFrame(body)
  }

  /** Encodes and writes one frame with its prefix. */
  async write (frame: RevokeFrame, options: AbortOptions = {}): Promise<void> {
    await this.#frames.write(encodeRevokeFrame(frame), options)
  }
}
