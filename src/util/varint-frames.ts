import { byteStream } from '@libp2p/utils'
import type { AbortOptions, MessageStream } from '@libp2p/interface'
import type { ByteStream } from '@libp2p/utils'

/**
 * Length-prefixed frames (unsigned LEB128 varint, as libp2p's own protocols) on a stream, with
 * the limit enforced on the prefix itself.
 *
 * Why not `lpStream` from @libp2p/utils: it reads the prefix one byte at a time and only checks
 * the prefix's length once a varint has decoded, so a prefix that never ends (0xff, 0xff, ...)
 * or decodes above 2^53 (2^64-1) is read, and buffered, until the deadline. Here the prefix may
 * be at most as long as the largest allowed length needs (3 bytes for 64 KiB): the first byte
 * beyond that is refused, and so is any declared length above the limit, before a single body
 * byte is read. Each protocol maps the two refusals to its own error codes.
 */
export interface FrameRefusals {
  /** A prefix longer than the limit needs, or a declared length above the limit. */
  tooLarge(message: string): Error
  /** A zero-length frame. */
  empty(): Error
}

export class VarintFrames<S extends MessageStream = MessageStream> {
  readonly maxFrameBytes: number
  readonly #bytes: ByteStream<S>
  readonly #maxPrefix: number
  readonly #refuse: FrameRefusals

  constructor (stream: S, o: { maxFrameBytes: number, maxBufferSize: number, refuse: FrameRefusals }) {
    this.maxFrameBytes = o.maxFrameBytes
    this.#bytes = byteStream(stream, { maxBufferSize: o.maxBufferSize })
    this.#maxPrefix = varintLength(o.maxFrameBytes)
    this.#refuse = o.refuse
  }

  /** Reads the next frame's body; null when the peer closed cleanly between frames. */
  async read (options: AbortOptions = {}): Promise<Uint8Array | null> {
    let length = 0
    let shift = 1
    for (let i = 0; ; i++) {
      // [REJECT] a prefix longer than any allowed length needs: never buffered further
      if (i >= this.#maxPrefix) { throw this.#refuse.tooLarge('frame length prefix exceeds the maximum') }
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
    if (length > this.maxFrameBytes) { throw this.#refuse.tooLarge(`frame of ${length} bytes exceeds ${this.maxFrameBytes}`) }
    if (length === 0) { throw this.#refuse.empty() }
    return (await this.#bytes.read({ ...options, bytes: length })).subarray()
  }

  /** Writes one body with its length prefix. */
  async write (body: Uint8Array, options: AbortOptions = {}): Promise<void> {
    const prefix = encodeVarint(body.byteLength)
    const out = new Uint8Array(prefix.length + body.byteLength)
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
