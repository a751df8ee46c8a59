import { encodeVarint } from '../../src/util/varint-frames.ts'
import type { Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/**
 * The exchange's writes, straight to the stream: each call joins its frames, length-prefixed,
 * into one buffer and sends it. `lpStream.writeV` does the same through a Uint8ArrayList, a copy
 * in the QUIC stream and a p-event listener per write, about 50 us a write on a dial's critical
 * path (a CPU profile of the dial). Reads stay with `lp`.
 *
 * `prefix` (already framed contents, e.g. a held-back select answer) goes out in front of the
 * first write, whichever that is.
 */
export function directWrites (lp: LengthPrefixedStream<Stream>, stream: Stream, prefix: Uint8Array[] = []): LengthPrefixedStream<Stream> {
  let pending = prefix
  const take = (): Uint8Array[] => {
    const out = pending
    pending = []
    return out
  }
  return {
    read: async (options) => lp.read(options),
    write: async (data, options) => { await sendFrames(stream, [...take(), data.subarray()], options?.signal) },
    writeV: async (data, options) => { await sendFrames(stream, [...take(), ...data.map(d => d.subarray())], options?.signal) },
    unwrap: () => lp.unwrap()
  }
}

/** Sends the frames as one buffer; resolves at once, or when the stream drains (it rejects when the stream closes or `signal` aborts first). */
export async function sendFrames (stream: Stream, frames: Uint8Array[], signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  if (stream.send(Buffer.concat(frames.flatMap(f => [encodeVarint(f.byteLength), f])))) { return }
  await new Promise<void>((resolve, reject) => {
    const finish = (err?: unknown): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err == null) { resolve() } else { reject(err) }
    }
    const onDrain = (): void => { finish() }
    const onClose = (evt: Event): void => { finish((evt as Event & { error?: Error }).error ?? new Error('stream closed before the write drained')) }
    const onAbort = (): void => { finish(signal?.reason) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}
