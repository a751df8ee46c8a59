import { byteStream } from '@libp2p/utils'
import { decodeRevokeFrame, encodeRevokeFrame } from './codec.ts'
import { MAX_FRAME_BYTES } from './constants.ts'
import { RevokeError } from './errors.ts'
import type { RevokeFrame } from './codec.ts'
import type { AbortOptions, MessageStream } from '@libp2p/interface'
import type { ByteStream } from '@libp2p/utils'

/**
 * One revoke frame at a time on a stream: unsigned LEB128 length prefix, then the CBOR body.
 * The prefix may be at most as long as MAX_FRAME_BYTES needs (3 bytes), and a declared length
 * above the limit is refused before one body byte is read (lpStream would buffer a prefix that
 * never ends until the deadline; see protocols/bundle/frame-stream.ts for the same reasoning).
 */
export class RevokeFrameIo<S extends MessageStream = MessageStream> {
  readonly #bytes: ByteStream<S>
  readonly #maxFrameBytes: number
  readonly #maxPrefix: number

  constructor (stream: S, maxFrameBytes = MAX_FRAME_BYTES) {
    this.#maxFrameBytes = maxFrameBytes
    // One frame and its prefix: the protocol never has two frames in flight one way.
    this.#bytes = byteStream(stream, { maxBufferSize: maxFrameBytes + 8 })
    this.#maxPrefix = varintLength(maxFrameBytes)
  }

  /** Reads and decodes one frame. Throws RevokeError (FRAME_TOO_LARGE, MALFORMED_MESSAGE, ...) or the stream's error. */
  async read (options: AbortOptions = {}): Promise<RevokeFrame> {
    let length = 0
    let shift = 1
    for (let i = 0; ; i++) {
      // [REJECT] a prefix longer than any allowed length needs
      if (i >= this.#maxPrefix) { throw new RevokeError('FRAME_TOO_LARGE', 'frame length prefix exceeds the maximum') }
      const b = (await this.#bytes.read({ ...options, bytes: 1 })).get(0)
      length += (b & 0x7f) * shift
      shift *= 128
      if ((b & 0x80) === 0) { break }
    }
    // [REJECT] a declared length over the limit: the body is never read
    if (length > this.#maxFrameBytes) { throw new RevokeError('FRAME_TOO_LARGE', `frame of ${length} bytes exceeds ${this.#maxFrameBytes}`) }
    if (length === 0) { throw new RevokeError('MALFORMED_MESSAGE', 'empty frame') }
    const body = await this.#bytes.read({ ...options, bytes: length })
    return decodeRevokeFrame(body.subarray())
  }

  /** Encodes and writes one frame with its prefix. */
  async write (frame: RevokeFrame, options: AbortOptions = {}): Promise<void> {
    const body = encodeRevokeFrame(frame)
    const prefix = encodeVarint(body.byteLength)
    const out = new Uint8Array(prefix.length + body.byteLength)
    out.set(prefix)
    out.set(body, prefix.length)
    await this.#bytes.write(out, options)
  }
}

function varintLength (n: number): number {
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
