import { decodeBundle } from '../../src/dtn/bpv7.ts'
import { DTN_EPOCH_MS } from '../../src/dtn/constants.ts'
import { eidNodeId } from '../../src/dtn/eid.ts'
import { BundleError } from '../../src/dtn/errors.ts'
import { BundleStoreError } from '../../src/store/bundle-store.ts'
import { FRAME_DEADLINE_MS, MAX_FRAME_BYTES, MAX_FRAMES_PER_STREAM, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, PROTOCOL, WINDOW, WIRE_VERSION } from './constants.ts'
import { BundleProtocolError } from './errors.ts'
import { FrameStream } from './frame-stream.ts'
import type { AckFrame } from './codec.ts'
import type { BundleAgent } from '../../src/dtn/bundle-agent.ts'
import type { BundleId } from '../../src/dtn/bundle-id.ts'
import type { Transfer } from '../../src/dtn/transfer-planner.ts'
import type { AbortOptions, Connection, Logger, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'

/**
 * `/dadm-mesh/bundle/1.0.0` on a mesh node: the stream half of custody transfer.
 *
 * Receiving: each bundle frame goes to `agent.receive` (verify, durable write); only then the
 * ACK leaves ("accepted" or "duplicate"), or a "rejected" ACK with the refusal's code. A frame
 * that is not a bundle, or over the limit, aborts the stream.
 * Sending: transfers planned by the agent go out on one stream per peer, at most WINDOW frames
 * ahead of their ACKs (the receiver's read buffer holds a window); an ACK completes its transfer
 * (the agent releases custody after a direct hand-over); what a failed stream leaves is retried
 * on schedule. A peer that authenticates is served at once
 * (issue 7: retries "triggered at once when the peer reconnects"); due retries run every tick.
 */

/** What the service needs of the mesh node (MeshNode fits). */
export interface BundleNode {
  /** Registers a handler that only ever sees authenticated peers. */
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
  /** Opens a stream over an authenticated connection (PeerId text). */
  openStream(peerId: string, protocol: string, options?: AbortOptions): Promise<Stream>
  auth: { waitForAuthentication(connection: Connection, options?: AbortOptions): Promise<{ nodeId: string, peerId: string }> }
  peers: { list(): Array<{ peerId: string, nodeId: string, status: string }> }
  addEventListener(type: 'peer:authenticated', listener: (evt: CustomEvent<{ nodeId: string, peerId: string }>) => void): void
  removeEventListener(type: 'peer:authenticated', listener: (evt: CustomEvent<{ nodeId: string, peerId: string }>) => void): void
}

export interface BundleServiceInit {
  node: BundleNode
  agent: BundleAgent
  /** node_ids flagged as relays (certificate or config), preferred when spraying. @default none */
  relays?(): readonly string[]
  /** @default MAX_FRAME_BYTES */
  maxFrameBytes?: number
  /** Deadline per frame and per ACK. @default FRAME_DEADLINE_MS */
  frameDeadlineMs?: number
  /** How often due retries are planned. @default 1000 (the retry base delay) */
  tickMs?: number
  /** How often expired bundles are swept. @default 60000 */
  sweepMs?: number
  log?: Logger
}

export class BundleService {
  readonly #init: BundleServiceInit
  readonly #sending = new Map<string, Transfer[]>()
  #timers: Array<ReturnType<typeof setInterval>> = []
  #running = false
  #pumping = false

  constructor (init: BundleServiceInit) {
    this.#init = init
    this.onAuthenticated = this.onAuthenticated.bind(this)
  }

  async start (): Promise<void> {
    if (this.#running) { return }
    this.#running = true
    await this.#init.node.handle(PROTOCOL, async (stream, connection) => { await this.#serve(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
    this.#init.node.addEventListener('peer:authenticated', this.onAuthenticated)
    this.#timers.push(setInterval(() => { void this.pump() }, this.#init.tickMs ?? 1000))
    this.#timers.push(setInterval(() => { void this.#init.agent.sweep().catch(err => this.#init.log?.error('sweep failed - %e', err)) }, this.#init.sweepMs ?? 60_000))
    for (const t of this.#timers) { t.unref?.() }
  }

  async stop (): Promise<void> {
    if (!this.#running) { return }
    this.#running = false
    for (const t of this.#timers) { clearInterval(t) }
    this.#timers = []
    this.#init.node.removeEventListener('peer:authenticated', this.onAuthenticated)
    await this.#init.node.unhandle(PROTOCOL).catch(() => {})
  }

  private onAuthenticated (evt: CustomEvent<{ nodeId: string }>): void {
    void this.pump(evt.detail.nodeId)
  }

  /** node_id -> PeerId of every authenticated peer. */
  #connected (): Map<string, string> {
    const out = new Map<string, string>()
    for (const p of this.#init.node.peers.list()) { if (p.status === 'authenticated') { out.set(p.nodeId, p.peerId) } }
    return out
  }

  /** Plans and starts transfers: everything for `peer` when it just authenticated, else what is due. */
  async pump (peer?: string): Promise<void> {
    if (!this.#running || (peer == null && this.#pumping)) { return }
    if (peer == null) { this.#pumping = true }
    try {
      const connected = this.#connected()
      const transfers = await this.#init.agent.planTransfers([...connected.keys()], { peer, relays: this.#init.relays?.() })
      for (const t of transfers) {
        const queue = this.#sending.get(t.peer)
        if (queue != null) {
          queue.push(t)
          continue
        }
        this.#sending.set(t.peer, [t])
        void this.#sendTo(t.peer, connected.get(t.peer))
      }
    } catch (err) {
      this.#init.log?.error('planning transfers failed - %e', err)
    } finally {
      if (peer == null) { this.#pumping = false }
    }
  }

  /** Drains the queue of `nodeId` over streams of at most MAX_FRAMES_PER_STREAM frames. */
  async #sendTo (nodeId: string, peerId: string | undefined): Promise<void> {
    const queue = this.#sending.get(nodeId) ?? []
    const deadline = this.#init.frameDeadlineMs ?? FRAME_DEADLINE_MS
    const pending: Transfer[] = []
    let stream: Stream | undefined
    try {
      if (peerId == null) { throw new BundleProtocolError('CLOSED', 'peer is not connected') }
      while (queue.length > 0 && this.#running) {
        stream = await this.#init.node.openStream(peerId, PROTOCOL, { signal: AbortSignal.timeout(deadline) })
        const frames = new FrameStream(stream, this.#init.maxFrameBytes ?? MAX_FRAME_BYTES)
        let sent = 0
        while ((queue.length > 0 && sent < MAX_FRAMES_PER_STREAM) || pending.length > 0) {
          while (pending.length < WINDOW && queue.length > 0 && sent < MAX_FRAMES_PER_STREAM) {
            const t = queue.shift() as Transfer
            pending.push(t)
            sent++
            await frames.write({ t: 1, v: WIRE_VERSION, b: t.bytes, c: t.copies }, { signal: AbortSignal.timeout(deadline) })
          }
          const ack = await frames.read({ signal: AbortSignal.timeout(deadline) })
          if (ack == null) { throw new BundleProtocolError('CLOSED', 'peer closed the stream before acknowledging') }
          const t = pending.shift() as Transfer
          if (ack.t !== 2 || !matches(ack, t)) { throw new BundleProtocolError('MALFORMED_FRAME', 'ACK does not name the bundle sent') }
          await this.#init.agent.completeTransfer(t, ack.code == null ? { status: ack.status } : { status: ack.status, code: ack.code })
        }
        await stream.close({ signal: AbortSignal.timeout(deadline) }).catch(() => {})
        stream = undefined
      }
    } catch (err: any) {
      stream?.abort(err)
      this.#init.log?.('bundle transfers to %s stopped - %e', nodeId, err)
    } finally {
      // whatever did not get its ACK waits for the retry schedule (custody never passed)
      for (const t of [...pending, ...queue]) { this.#init.agent.failTransfer(t) }
      this.#sending.delete(nodeId)
    }
  }

  /** Serves one inbound stream: receive, durable write, then ACK; frame by frame. */
  async #serve (stream: Stream, connection: Connection): Promise<void> {
    const deadline = this.#init.frameDeadlineMs ?? FRAME_DEADLINE_MS
    try {
      const peer = await this.#init.node.auth.waitForAuthentication(connection, { signal: AbortSignal.timeout(deadline) })
      const frames = new FrameStream(stream, this.#init.maxFrameBytes ?? MAX_FRAME_BYTES)
      for (let i = 0; i < MAX_FRAMES_PER_STREAM; i++) {
        const frame = await frames.read({ signal: AbortSignal.timeout(deadline) })
        if (frame == null) { break }
        if (frame.t !== 1) { throw new BundleProtocolError('MALFORMED_FRAME', 'expected a bundle frame') }
        // [REJECT] unparseable: no id to acknowledge, the peer is broken or hostile
        const { id, offset } = peekId(frame.b)
        let ack: AckFrame
        try {
          const r = await this.#init.agent.receive(frame.b, { from: peer.nodeId, copies: frame.c })
          ack = { t: 2, id, offset, status: r.status }
        } catch (err: any) {
          const code = err instanceof BundleError || err instanceof BundleStoreError ? err.code : 'INTERNAL'
          this.#init.log?.('refused bundle from %s: %s', peer.nodeId, code)
          ack = { t: 2, id, offset, status: 'rejected', code }
        }
        await frames.write(ack, { signal: AbortSignal.timeout(deadline) })
      }
      await stream.close({ signal: AbortSignal.timeout(deadline) }).catch(() => {})
    } catch (err: any) {
      stream.abort(err)
    }
  }
}

function matches (ack: AckFrame, t: Transfer): boolean {
  return ack.id.source === t.id.source && ack.id.createdAt === t.id.createdAt && ack.id.sequence === t.id.sequence && ack.offset === t.offset
}

/** The id and fragment offset of a bundle, from its primary block alone; BundleError if there is none. */
export function peekId (bytes: Uint8Array): { id: BundleId, offset: number } {
  const { primary } = decodeBundle(bytes, { maxBlocks: 3 })
  if (primary.creationTime === 0) { throw new BundleError('INVALID_FIELDS', 'no creation time') }
  return {
    id: { source: eidNodeId(primary.source, 'source'), createdAt: primary.creationTime + DTN_EPOCH_MS, sequence: primary.sequence },
    offset: primary.fragment?.offset ?? 0
  }
}
