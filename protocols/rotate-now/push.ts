import { lpStream } from '@libp2p/utils'
import { encode } from 'cborg'
import { decodeBounded } from '../../src/util/bounded-cbor.ts'
import { DEFAULT_DEADLINE_MS, MAX_INBOUND_STREAMS, MAX_NOTICE_BYTES, MAX_OUTBOUND_STREAMS, PROTOCOL, PUSH_CONCURRENCY, WIRE_VERSION } from './constants.ts'
import { isNoticeErrorCode, NoticeError } from './errors.ts'
import type { NoticeErrorCode } from './errors.ts'
import type { Connection, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'

/*
 * `/dadm-mesh/rotate/1.0.0`: one notice pushed, one answer, per stream, length-prefixed CBOR:
 *
 *   push   { t: 1, v: 1, notice: bstr }     the notice envelope as the CA signed it
 *   result { t: 2, ok: bool, code?: tstr }  what the receiver made of it (a NoticeErrorCode)
 *
 * Who pushed does not matter for trust (the CA's signature does). The receiver's handler
 * decides, applies and forwards (once: the seen cache of the node's notice center).
 */

/** What the receiving node concluded about a pushed notice. */
export interface NoticeVerdict {
  ok: boolean
  code?: NoticeErrorCode
}

/** Where the push protocol lives: a mesh node (its `handle` guards with auth) and its sessions. */
export interface NoticePushHost {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
  auth: { authenticatedConnections(): Array<{ connection: Connection, peer: { peerId: string } }> }
}

export interface NoticePushInit {
  /** Judges (and acts on) a pushed notice; `from` is the pusher's PeerId. */
  onNotice(bytes: Uint8Array, from: string): Promise<NoticeVerdict>
  /** One push or one inbound exchange, ms. @default DEFAULT_DEADLINE_MS */
  deadlineMs?: number
}

export interface NoticePushOutcome {
  peerId: string
  ok: boolean
  code?: NoticeErrorCode
  /** `name:code` of a local failure (no stream, deadline, bad answer). */
  error?: string
}

const FRAME_LIMITS = { maxDepth: 1, maxTokens: 7 }
const MAX_FRAME_BYTES = MAX_NOTICE_BYTES + 64

function encodeFrame (frame: { t: 1, v: number, notice: Uint8Array } | { t: 2, ok: boolean, code?: NoticeErrorCode }): Uint8Array {
  return encode(frame.t === 2 && frame.code == null ? { t: 2, ok: frame.ok } : frame)
}

function decodeFrame (bytes: Uint8Array): { t: 1, notice: Uint8Array } | { t: 2, ok: boolean, code?: NoticeErrorCode } {
  let o: Record<string, unknown>
  try {
    o = decodeBounded(bytes, FRAME_LIMITS) as Record<string, unknown>
  } catch (err) {
    throw new NoticeError('MALFORMED', 'push frame is not strict CBOR', { cause: err })
  }
  if (o == null || typeof o !== 'object' || Array.isArray(o) || o instanceof Uint8Array) { throw new NoticeError('MALFORMED', 'push frame is not a map') }
  if (o.t === 1 && o.v === WIRE_VERSION && o.notice instanceof Uint8Array && Object.keys(o).length === 3) { return { t: 1, notice: o.notice } }
  if (o.t === 2 && typeof o.ok === 'boolean' && Object.keys(o).every(k => k === 't' || k === 'ok' || k === 'code')) {
    // A code we do not know is dropped, not echoed: logs stay bounded.
    return isNoticeErrorCode(o.code) ? { t: 2, ok: o.ok, code: o.code } : { t: 2, ok: o.ok }
  }
  throw new NoticeError(o.t === 1 && o.v !== WIRE_VERSION ? 'UNSUPPORTED_VERSION' : 'MALFORMED', 'unexpected push frame')
}

/** The push protocol over a mesh node: accepts pushed notices, pushes ours to every authenticated peer. */
export class NoticePush {
  readonly protocol = PROTOCOL
  private readonly init: NoticePushInit
  private host: NoticePushHost | undefined

  constructor (init: NoticePushInit) {
    this.init = init
  }

  private get deadlineMs (): number {
    return this.init.deadlineMs ?? DEFAULT_DEADLINE_MS
  }

  async start (host: NoticePushHost): Promise<void> {
    if (this.host != null) { return }
    this.host = host
    // Also over relayed (limited) connections: notices must reach members behind NAT.
    await host.handle(PROTOCOL, async (stream, connection) => { await this.onStream(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS,
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    const host = this.host
    this.host = undefined
    await host?.unhandle(PROTOCOL).catch(() => {})
  }

  /** Pushes `notice` to every authenticated peer (one connection each) but `except`; never rejects. */
  async push (notice: Uint8Array, options: { except?: string[] } = {}): Promise<NoticePushOutcome[]> {
    if (this.host == null) { return [] }
    const skip = new Set(options.except ?? [])
    const byPeer = new Map<string, Connection>()
    for (const { connection, peer } of this.host.auth.authenticatedConnections()) {
      if (!skip.has(peer.peerId) && connection.status === 'open') { byPeer.set(peer.peerId, connection) }
    }
    const todo = [...byPeer]
    const out: NoticePushOutcome[] = []
    const worker = async (): Promise<void> => {
      for (let item = todo.shift(); item != null; item = todo.shift()) { out.push(await this.pushTo(item[1], item[0], notice)) }
    }
    await Promise.all(Array.from({ length: Math.min(PUSH_CONCURRENCY, Math.max(1, todo.length)) }, worker))
    return out
  }

  private async pushTo (connection: Connection, peerId: string, notice: Uint8Array): Promise<NoticePushOutcome> {
    const signal = AbortSignal.timeout(this.deadlineMs)
    let stream: Stream | undefined
    try {
      stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
      const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: MAX_FRAME_BYTES + 16 })
      await lp.write(encodeFrame({ t: 1, v: WIRE_VERSION, notice }), { signal })
      const answer = decodeFrame((await lp.read({ signal })).subarray())
      await stream.close({ signal }).catch(() => {})
      if (answer.t !== 2) { throw new NoticeError('MALFORMED', 'expected a result frame') }
      return { peerId, ok: answer.ok, ...(answer.code != null ? { code: answer.code } : {}) }
    } catch (err: any) {
      stream?.abort(err)
      return { peerId, ok: false, error: `${String(err?.name)}:${String(err?.code ?? '')}` }
    }
  }

  private async onStream (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(this.deadlineMs)
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: MAX_FRAME_BYTES + 16 })
      const frame = decodeFrame((await lp.read({ signal })).subarray())
      if (frame.t !== 1) { throw new NoticeError('MALFORMED', 'expected a push frame') }
      const verdict = await this.init.onNotice(frame.notice, connection.remotePeer.toString())
      await lp.write(encodeFrame({ t: 2, ok: verdict.ok, ...(verdict.code != null ? { code: verdict.code } : {}) }), { signal })
      await stream.close({ signal })
    } catch (err: any) {
      stream.abort(err)
    }
  }
}
