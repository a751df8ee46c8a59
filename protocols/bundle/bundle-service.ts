import { TypedEventEmitter } from '@libp2p/interface'
import { chooseHolders } from '../../src/dtn/holders.ts'
import { FRAME_DEADLINE_MS, MAX_FRAME_BYTES, MAX_FRAMES_PER_STREAM, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, PROTOCOL, WINDOW, WINDOW_BYTES, WIRE_VERSION } from './constants.ts'
import { BundleProtocolError } from './errors.ts'
import { FrameStream } from './frame-stream.ts'
import { serveFrames } from './serve-stream.ts'
import type { AckFrame } from './codec.ts'
import type { BundleAgent } from '../../src/dtn/bundle-agent.ts'
import type { HolderCandidate, HolderRefusal } from '../../src/dtn/holders.ts'
import type { Transfer } from '../../src/dtn/transfer-planner.ts'
import type { AbortOptions, Connection, Logger, NewStreamOptions, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'

/**
 * `/dadm-mesh/bundle/1.0.0` on a mesh node: the stream half of custody transfer.
 *
 * Receiving: each bundle frame goes to `agent.receive` (verify, durable write); only then its
 * ACK leaves ("accepted" or "duplicate"), or a "rejected" ACK with the refusal's code; frames are
 * received pipelined, ACKs leave in order (serve-stream.ts). A frame that is not a bundle, or
 * over the limit, aborts the stream.
 * Sending: transfers planned by the agent go out on one stream per peer, at most WINDOW frames
 * and WINDOW_BYTES ahead of their ACKs (the receiver's read buffer holds a window); an ACK
 * completes its transfer (the agent releases custody after a direct hand-over); what a failed
 * stream leaves is retried on schedule. A peer that authenticates is served at once, not at the
 * next tick: a DTN contact may be short, and waiting would waste it; due retries run every tick.
 *
 * Custody goes only to the newest holder of a node_id (src/dtn/holders.ts): when two
 * authenticated peers claim one node_id, bundles for it (direct, spray or flood) go to the one
 * whose certificate is newest among all the node has seen for that node_id, and a peer whose
 * certificate is superseded, revoked or expired is handed nothing; each such refusal is raised
 * once as `custody:refused` with its code. The choice is made when transfers are planned and
 * made again before every stream is opened, so a newer holder that appears meanwhile wins.
 */

/** What the service needs of the mesh node (MeshNode fits). */
export interface BundleNode {
  /** Registers a handler that only ever sees authenticated peers. */
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
  /** Opens a stream over an authenticated connection (PeerId text). */
  openStream(peerId: string, protocol: string, options?: NewStreamOptions): Promise<Stream>
  auth: { waitForAuthentication(connection: Connection, options?: AbortOptions): Promise<{ nodeId: string, peerId: string }> }
  /** Every peer the node knows, connected or not, with the certificate it last authenticated with. */
  peers: { list(): HolderCandidate[] }
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
  /** The clock the holders' certificates are checked against. @default the agent's */
  now?(): number
  /** The node's revocation state for a peer's certificate (a throw counts as revoked). @default none revoked */
  isRevoked?(peer: HolderCandidate): boolean
  /**
   * Every peer whose certificate counts when choosing the newest holder, when `node.peers` lists
   * only those that may receive (a node that holds back peers still attesting): a newer
   * certificate held back still supersedes an older one. @default node.peers.list()
   */
  knownPeers?(): HolderCandidate[]
  log?: Logger
}

export interface BundleServiceEvents {
  /** An authenticated peer is refused custody (HOLDER_SUPERSEDED, HOLDER_REVOKED, HOLDER_EXPIRED); raised once per peer and code. */
  'custody:refused': CustomEvent<HolderRefusal>
}

export class BundleService extends TypedEventEmitter<BundleServiceEvents> {
  readonly #init: BundleServiceInit
  readonly #sending = new Map<string, Transfer[]>()
  #timers: Array<ReturnType<typeof setInterval>> = []
  #running = false
  #pumping = false
  /** PeerId -> the refusal last raised for it (bounded by the peer table: peers no longer refused are dropped). */
  readonly #refused = new Map<string, string>()

  constructor (init: BundleServiceInit) {
    super()
    this.#init = init
    this.onAuthenticated = this.onAuthenticated.bind(this)
  }

  async start (): Promise<void> {
    if (this.#running) { return }
    this.#running = true
    await this.#init.node.handle(PROTOCOL, async (stream, connection) => { await this.#serve(stream, connection) }, {
      // Also over relayed (limited) connections: bundles must reach members behind NAT.
      maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS, runOnLimitedConnection: true
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

  /**
   * node_id -> PeerId of the one authenticated peer per node_id that may hold its bundles: the
   * newest holder (src/dtn/holders.ts). Refusals not raised before are raised now.
   */
  #connected (): Map<string, string> {
    const receivers = this.#init.node.peers.list()
    let candidates = receivers
    if (this.#init.knownPeers != null) {
      const may = new Set<string>()
      for (const p of receivers) { if (p.status === 'authenticated') { may.add(p.peerId) } }
      // the others count as seen certificates, never as receivers
      candidates = this.#init.knownPeers().map(p => p.status !== 'authenticated' || may.has(p.peerId) ? p : { ...p, status: 'held-back' })
    }
    const { eligible, refused } = chooseHolders(candidates, (this.#init.now ?? (() => this.#init.agent.now()))(), this.#init.isRevoked)
    const current = new Set<string>()
    for (const r of refused) {
      current.add(r.peerId)
      if (this.#refused.get(r.peerId) === r.code) { continue }
      this.#refused.set(r.peerId, r.code)
      this.#init.log?.('custody refused to %s (node_id %s, serial %s): %s', r.peerId, r.nodeId, r.serialHex, r.code)
      this.safeDispatchEvent('custody:refused', { detail: r })
    }
    for (const peerId of this.#refused.keys()) { if (!current.has(peerId)) { this.#refused.delete(peerId) } }
    return eligible
  }

  /** Plans and starts transfers: everything for `peer` when it just authenticated, else what is due. */
  async pump (peer?: string): Promise<void> {
    if (!this.#running || (peer == null && this.#pumping)) { return }
    if (peer == null) { this.#pumping = true }
    try {
      const connected = this.#connected()
      const transfers = await this.#init.agent.planTransfers([...connected.keys()], { peer, relays: this.#init.relays?.(), limit: PLAN_LIMIT })
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

  /**
   * Drains the queue of `nodeId` over streams of at most MAX_FRAMES_PER_STREAM frames. A plan
   * holds at most PLAN_LIMIT transfers; when a full one drained cleanly, the peer is planned
   * again at once, so a backlog of thousands leaves at link speed, not one plan per tick.
   */
  async #sendTo (nodeId: string, peerId: string | undefined): Promise<void> {
    const queue = this.#sending.get(nodeId) ?? []
    const deadline = this.#init.frameDeadlineMs ?? FRAME_DEADLINE_MS
    const pending: Transfer[] = []
    let stream: Stream | undefined
    let completed = 0
    let clean = false
    const completions: Array<Promise<void>> = []
    try {
      if (peerId == null) { throw new BundleProtocolError('CLOSED', 'peer is not connected') }
      while (queue.length > 0 && this.#running) {
        // [REFUSE] the peer is no longer the newest holder of its node_id: nothing more goes to it
        if (this.#connected().get(nodeId) !== peerId) { throw new BundleProtocolError('HOLDER_REFUSED', `${peerId} is not the newest holder of ${nodeId}`) }
        stream = await this.#init.node.openStream(peerId, PROTOCOL, { signal: AbortSignal.timeout(deadline), runOnLimitedConnection: true })
        const frames = new FrameStream(stream, this.#init.maxFrameBytes ?? MAX_FRAME_BYTES)
        let sent = 0
        let inFlight = 0
        while ((queue.length > 0 && sent < MAX_FRAMES_PER_STREAM) || pending.length > 0) {
          // the window: at most WINDOW frames and WINDOW_BYTES unacknowledged (one frame always may go)
          while (queue.length > 0 && sent < MAX_FRAMES_PER_STREAM && pending.length < WINDOW && (pending.length === 0 || inFlight + queue[0].bytes.length <= WINDOW_BYTES)) {
            const t = queue.shift() as Transfer
            pending.push(t)
            sent++
            inFlight += t.bytes.length
            await frames.write({ t: 1, v: WIRE_VERSION, b: t.bytes, c: t.copies }, { signal: AbortSignal.timeout(deadline) })
          }
          const ack = await frames.read({ signal: AbortSignal.timeout(deadline) })
          if (ack == null) { throw new BundleProtocolError('CLOSED', 'peer closed the stream before acknowledging') }
          const t = pending.shift() as Transfer
          inFlight -= t.bytes.length
          if (ack.t !== 2 || !matches(ack, t)) { throw new BundleProtocolError('MALFORMED_FRAME', 'ACK does not name the bundle sent') }
          // applied in the background: releases after many ACKs share one group commit. One that
          // fails (the store closed under a stop) leaves the bundle held for a retry; caught here,
          // since it may fail while this loop still waits on the stream (an unhandled rejection)
          completions.push(this.#init.agent.completeTransfer(t, ack.code == null ? { status: ack.status } : { status: ack.status, code: ack.code })
            .catch(err => { this.#init.log?.('applying the ACK of a transfer to %s failed - %e', nodeId, err) }))
          if (completions.length >= MAX_PENDING_COMPLETIONS) { await Promise.all(completions.splice(0)) }
          completed++
        }
        await stream.close({ signal: AbortSignal.timeout(deadline) }).catch(() => {})
        stream = undefined
      }
      clean = true
    } catch (err: any) {
      stream?.abort(err)
      this.#init.log?.('bundle transfers to %s stopped - %e', nodeId, err)
    } finally {
      // the queue closes before anything is awaited: a transfer planned from here on starts a
      // drain of its own; pushed into this one it would never be sent nor failed, and stay "in
      // flight" (never planned again) until the node restarts
      this.#sending.delete(nodeId)
      // whatever did not get its ACK waits for the retry schedule (custody never passed)
      for (const t of [...pending, ...queue]) { this.#init.agent.failTransfer(t) }
      await Promise.allSettled(completions)
    }
    if (clean && completed >= PLAN_LIMIT && this.#running) { void this.pump(nodeId) }
  }

  /** Serves one inbound stream: receive, durable write, then ACK, pipelined (serve-stream.ts). */
  async #serve (stream: Stream, connection: Connection): Promise<void> {
    const deadline = this.#init.frameDeadlineMs ?? FRAME_DEADLINE_MS
    try {
      const peer = await this.#init.node.auth.waitForAuthentication(connection, { signal: AbortSignal.timeout(deadline) })
      const frames = new FrameStream(stream, this.#init.maxFrameBytes ?? MAX_FRAME_BYTES)
      await serveFrames(frames, this.#init.agent, peer.nodeId, deadline, this.#init.log)
      await stream.close({ signal: AbortSignal.timeout(deadline) }).catch(() => {})
    } catch (err: any) {
      stream.abort(err)
    }
  }
}

/** Transfers per plan (the planner's default): a plan reads at most this many records. */
const PLAN_LIMIT = 256
/** ACKs applied in the background before the sender waits for them (bounds what it holds). */
const MAX_PENDING_COMPLETIONS = 256

function matches (ack: AckFrame, t: Transfer): boolean {
  return ack.id.source === t.id.source && ack.id.createdAt === t.id.createdAt && ack.id.sequence === t.id.sequence && ack.offset === t.offset
}

export { peekId } from './peek-id.ts'
