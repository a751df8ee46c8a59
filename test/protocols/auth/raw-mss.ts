import { muxerOf } from '../../../protocols/auth/muxer-access.ts'
import type { Connection, Stream } from '@libp2p/interface'

/**
 * Raw multistream-select 1.0 by hand: varint-length-prefixed lines on a bare muxed stream (no
 * libp2p select in between), and everything the other side sends back, until it ends, resets,
 * or the deadline passes.
 */

const utf8 = new TextEncoder()

/** One varint-framed multistream line ("/multistream/1.0.0\n", "ls\n", ...). */
export function mssLine (text: string): Uint8Array {
  const body = utf8.encode(text)
  const head: number[] = []
  let n = body.byteLength
  while (n >= 0x80) { head.push((n & 0x7f) | 0x80); n >>>= 7 }
  head.push(n)
  return Uint8Array.from([...head, ...body])
}

/**
 * Cuts a varint-length-prefixed byte run into its frames; `partial` counts the bytes of a last
 * frame that did not arrive whole (0 when the run ends on a frame boundary).
 */
export function varintFrames (bytes: Uint8Array): { frames: Uint8Array[], partial: number } {
  const frames: Uint8Array[] = []
  let at = 0
  while (at < bytes.byteLength) {
    let n = 0
    let shift = 0
    let i = at
    for (; i < bytes.byteLength; i++) {
      n += (bytes[i] & 0x7f) * 2 ** shift
      shift += 7
      if (bytes[i] < 0x80) { break }
    }
    const end = i + 1 + n
    if (end > bytes.byteLength) { return { frames, partial: bytes.byteLength - at } }
    frames.push(bytes.subarray(i + 1, end))
    at = end
  }
  return { frames, partial: 0 }
}

/** Splits varint-framed messages; a trailing partial one is returned as the last item. */
export function mssSplit (bytes: Uint8Array): string[] {
  const { frames, partial } = varintFrames(bytes)
  const out = frames.map(f => new TextDecoder().decode(f))
  if (partial > 0) { out.push(`<partial ${partial} bytes>`) }
  return out
}

/** Opens a bare stream on `connection` (no select), writes `lines`, and collects the answer. */
export async function rawSelect (connection: Connection, lines: string[], deadlineMs: number): Promise<{ stream: Stream, answer: Promise<{ bytes: Uint8Array, ended: 'end' | 'reset' | 'deadline' }> }> {
  const muxer = muxerOf(connection)
  if (muxer == null) { throw new Error('no muxer on the connection') }
  const stream = await muxer.createStream()
  stream.send(Buffer.concat(lines.map(mssLine)))
  return { stream, answer: collect(stream, deadlineMs) }
}

/** Everything `stream` receives until it ends, resets, or `deadlineMs` passes. */
export async function collect (stream: Stream, deadlineMs: number): Promise<{ bytes: Uint8Array, ended: 'end' | 'reset' | 'deadline' }> {
  const chunks: Uint8Array[] = []
  const { promise, resolve } = Promise.withResolvers<'end' | 'reset' | 'deadline'>()
  stream.addEventListener('message', (evt: any) => { chunks.push(evt.data.subarray()) })
  stream.addEventListener('remoteCloseWrite', () => { resolve('end') })
  stream.addEventListener('close', (evt: any) => { resolve(evt.error != null ? 'reset' : 'end') })
  const timer = setTimeout(() => { resolve('deadline') }, deadlineMs)
  const ended = await promise
  clearTimeout(timer)
  return { bytes: Buffer.concat(chunks), ended }
}
