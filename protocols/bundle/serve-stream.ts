import { BundleError } from '../../src/dtn/errors.ts'
import { BundleStoreError } from '../../src/dtn/store/bundle-store.ts'
import { MAX_FRAMES_PER_STREAM, WINDOW, WINDOW_BYTES } from './constants.ts'
import { BundleProtocolError } from './errors.ts'
import { peekId } from './peek-id.ts'
import type { AckFrame } from './codec.ts'
import type { FrameStream } from './frame-stream.ts'
import type { BundleAgent } from '../../src/dtn/bundle-agent.ts'
import type { Logger } from '@libp2p/interface'

/**
 * The receiving half of `/dadm-mesh/bundle/1.0.0` on one stream, pipelined: frames are read and
 * handed to the agent as they arrive (up to WINDOW frames and WINDOW_BYTES in progress), while a
 * second loop writes the ACKs in arrival order, each only once its bundle's durable write is
 * done. Bundles arriving together are thus written in one group commit (one fsync), not one
 * fsync each, and the custody rule holds per bundle: no ACK before its own write.
 */
export async function serveFrames (frames: FrameStream, agent: BundleAgent, from: string, deadlineMs: number, log?: Logger): Promise<void> {
  const window = new Window()
  const writer = (async () => {
    for (;;) {
      const next = await window.next()
      if (next == null) { return }
      await frames.write(await next.ack, { signal: AbortSignal.timeout(deadlineMs) })
      window.done(next)
    }
  })().catch((err: unknown) => { window.fail(err) })

  try {
    for (let i = 0; i < MAX_FRAMES_PER_STREAM; i++) {
      // the window: a well-behaved sender never has more unacknowledged, so this wait is short
      if (!await window.room()) { break }
      const frame = await frames.read({ signal: AbortSignal.timeout(deadlineMs) })
      if (frame == null) { break }
      if (frame.t !== 1) { throw new BundleProtocolError('MALFORMED_FRAME', 'expected a bundle frame') }
      // [REJECT] unparseable: no id to acknowledge, the peer is broken or hostile
      const { id, offset } = peekId(frame.b)
      const ack = agent.receive(frame.b, { from, copies: frame.c }).then(
        (r): AckFrame => ({ t: 2, id, offset, status: r.status }),
        (err: unknown): AckFrame => {
          const code = err instanceof BundleError || err instanceof BundleStoreError ? err.code : 'INTERNAL'
          log?.('refused bundle from %s: %s', from, code)
          return { t: 2, id, offset, status: 'rejected', code }
        }
      )
      window.add({ bytes: frame.b.length, ack })
    }
  } finally {
    window.end()
    await writer
  }
  window.throwIfFailed()
}

interface Entry { bytes: number, ack: Promise<AckFrame> }

/** The frames in progress, in arrival order, and the two waits on them (reader: room; writer: next). */
class Window {
  readonly #entries: Entry[] = []
  #bytes = 0
  #ended = false
  #failed: Error | undefined
  #wakeWriter: (() => void) | undefined
  #wakeReader: (() => void) | undefined

  add (e: Entry): void {
    this.#entries.push(e)
    this.#bytes += e.bytes
    this.#wake('writer')
  }

  /** True once there is room for another frame; false when the writer failed. */
  async room (): Promise<boolean> {
    for (let i = 0; i < MAX_FRAMES_PER_STREAM && this.#failed == null && (this.#entries.length >= WINDOW || this.#bytes >= WINDOW_BYTES); i++) {
      await new Promise<void>(resolve => { this.#wakeReader = resolve })
    }
    return this.#failed == null
  }

  /** The oldest frame in progress, or null once the reader ended and all were answered. */
  async next (): Promise<Entry | null> {
    for (let i = 0; i <= MAX_FRAMES_PER_STREAM && this.#entries.length === 0; i++) {
      if (this.#ended) { return null }
      await new Promise<void>(resolve => { this.#wakeWriter = resolve })
    }
    return this.#entries[0] ?? null
  }

  done (e: Entry): void {
    this.#entries.shift()
    this.#bytes -= e.bytes
    this.#wake('reader')
  }

  end (): void {
    this.#ended = true
    this.#wake('writer')
  }

  fail (err: unknown): void {
    this.#failed ??= err instanceof Error ? err : new BundleProtocolError('CLOSED', 'writing an ACK failed')
    this.#wake('reader')
  }

  throwIfFailed (): void {
    if (this.#failed != null) { throw this.#failed }
  }

  #wake (who: 'reader' | 'writer'): void {
    const w = who === 'reader' ? this.#wakeReader : this.#wakeWriter
    if (who === 'reader') { this.#wakeReader = undefined } else { this.#wakeWriter = undefined }
    w?.()
  }
}
