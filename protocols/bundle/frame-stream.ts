import { byteStream } from '@libp2p/utils'
import { decodeFrame, encodeFrame } from './codec.ts'
import { MAX_ACK_FRAME_BYTES, MAX_FRAME_BYTES, MAX_READ_BUFFER_BYTES, WINDOW, WINDOW_BYTES } from './constants.ts'
import { BundleProtocolError } from './errors.ts'
import type { Frame } from './codec.ts'
import type { AbortOptions, MessageStream } from '@libp2p/interface'
import type { ByteStream } from '@libp2p/utils'

/**
 * Length-prefixed frames (unsigned LEB128 varint, as libp2p's own protocols) on a stream.
 *
 * Why not `lpStream` from @libp2p/utils: it reads the prefix one byte at a time and only checks
 * the prefix's length once a varint has decoded, so a prefix that never ends (0xff, 0xff, ...)
 * or decodes above 2^53 (2^64-1) is read, and buffered, until the deadline. Here the prefix may
 * be at most as long as the largest allowed length needs (3 bytes for 64 KiB): the first byte
 * beyond that is FRAME_TOO_LARGE, and so is any declared length above the limit, before a single
 * body byte is read.
 */
export class FrameStream<S extends MessageStream = MessageStream> {
  readonly maxFrameBytes: number
  readonly #bytes: ByteStream<S>
  readonly #maxPrefix: number

  constructor (stream: S, maxFrameBytes = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes
    this.#bytes = byteStream(stream, { maxBufferSize: Math.max(MAX_READ_BUFFER_BYTES, WINDOW_BYTES + maxFrameBytes + WINDOW * 8 + MAX_ACK_FRAME_BYTES) })
    this.#maxPrefix = varintLength(maxFrameBytes)
  }

  /** Reads and decodes the next frame; null when the peer closed cleanly between frames. */
  async read (options: AbortOptions = {}): Promise<Frame | null> {
    let length = 0
    let shift = 1
    for (let i = 0; ; i++) {
      // [REJECT] a prefix longer than any allowed length needs: never buffered further
      if (i >= this.#maxPrefix) { throw new BundleProtocolError('FRAME_TOO_LARGE', 'frame length prefix exceeds the maximum') }
      let chunk
      try {
        chunk = await this.#bytes.read({ ...options, bytes: 1 })
      } catch (err: any) {
        if (i === 0 && err?.name === 'UnexpectedEOFError') { return null }
        throw err
      }
      const b = chunk.get(0)
      length += (b & 0x7f) * shift
      shift *= 128
      if ((b & 0x80) === 0) { break }
    }
    // [REJECT] a declared length over the limit: the body is never read
    if (length > this.maxFrameBytes) { throw new BundleProtocolError('FRAME_TOO_LARGE', `frame of ${length} bytes exceeds ${this.maxFrameBytes}`) }
    if (length === 0) { throw new BundleProtocolError('MALFORMED_FRAME', 'empty frame') }
    const body = await this.#bytes.read({ ...options, bytes: length })
    return decodeFrame(body.subarray(), this.maxFrameBytes)
  }

  /** Encodes and writes one frame with its length prefix. */
  async write (frame: Frame, options: AbortOptions = {}): Promise<void> {
    const body = encodeFrame(frame, this.maxFrameBytes)
    const prefix = encodeVarint(body.length)
    const out = new Uint8Array(prefix.length + body.length)
    out.set(prefix)
    out.set(body, prefix.length)
    await this.#bytes.write(out, options)
  }
}

/** Bytes an unsigned LEB128 varint of `n` takes. */
export function varintLength (n: number): number {
  let len = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}

/** Unsigned LEB128 varint of a safe integer. */
export function encodeVarint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 128) {
    out.push((n % 128) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}
