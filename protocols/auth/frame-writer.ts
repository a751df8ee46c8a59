import { encodeVarint } from '../../src/util/varint-frames.ts'
import type { Stream } from '@libp2p/interface'

/**
 * The exchange's writes, straight to the stream: each call joins its frames, length-prefixed,
 * into one buffer and queues it on the stream. `lpStream.writeV` does the same through a
 * Uint8ArrayList, a copy in the QUIC stream and a p-event listener per write, each on a dial's
 * critical path. Reads stay with `reader`.
 *
 * A write does not wait for the stream to drain. The QUIC stream reports "needs drain" after
 * every write, so waiting would put three event listeners and a native round trip per frame
 * into the listener's reply, and the exchange never has more than a few kilobytes in flight
 * (MAX_FRAME_BYTES a frame, at most three frames a side), so there is no backpressure to honour. The stream keeps what it cannot send yet and
 * sends it on drain; a write that fails aborts the stream, and the exchange's next read (or the
 * close that flushes it) sees that.
 *
 * `prefix` (already framed contents, e.g. a held-back select answer) goes out in front of the
 * first write, whichever that is.
 */

/** Where frames are read from: our FrameReader, or (in tests) an `lpStream`. */
export interface FrameSource {
  read(options?: { signal?: AbortSignal }): Promise<{ subarray(): Uint8Array }>
}

/** Frames both ways on one stream, as the exchange uses them. */
export interface FrameChannel extends FrameSource {
  write(data: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
  writeV(data: Uint8Array[], options?: { signal?: AbortSignal }): Promise<void>
}

export function directWrites (reader: FrameSource, stream: Stream, prefix: Uint8Array[] = []): FrameChannel {
  let pending = prefix
  const take = (): Uint8Array[] => {
    const out = pending
    pending = []
    return out
  }
  return {
    read: async (options) => reader.read(options),
    write: async (data, options) => { queueFrames(stream, [...take(), data], options?.signal) },
    writeV: async (data, options) => { queueFrames(stream, [...take(), ...data], options?.signal) }
  }
}

/**
 * Queues the frames on the stream as one buffer, without waiting for it to drain (see above).
 * Throws when `signal` has aborted or the stream no longer takes writes.
 */
export function queueFrames (stream: Stream, frames: Uint8Array[], signal?: AbortSignal): void {
  signal?.throwIfAborted()
  stream.send(Buffer.concat(frames.flatMap(f => [encodeVarint(f.byteLength), f])))
}
