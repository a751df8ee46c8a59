import { unlink } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import { StreamResetError } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { BridgeConnection } from './bridge-conn.ts'
import type { BridgeWire } from './bridge-conn.ts'
import type { LinkFabric } from './fabric.ts'
import type { Logger, MultiaddrConnection } from '@libp2p/interface'
import type { Server, Socket } from 'node:net'

const OPEN = 1
const DATA = 2
const CLOSE = 3
const RESET = 4
/** A frame is at most one yamux/TLS write plus the header; 16 MiB is far above either. */
const MAX_FRAME = 16 * 1024 * 1024
const HEADER = 9

/**
 * Links between shards: one Unix socket per pair of shard processes carries every link
 * connection between their nodes as frames [u32 length][u8 type][u32 connection id][payload].
 * Shard i listens; shards j > i dial it. The link model is applied by the sending node's
 * fabric before bytes reach the socket, exactly as for links inside a shard.
 */
export class ShardBridge {
  private readonly fabric: LinkFabric
  private readonly log: Logger
  private readonly sockets = new Map<number, Socket>()
  private readonly conns = new Map<number, BridgeConnection>()
  private server?: Server
  private nextId = 0
  private closing = false
  private readonly shards: number

  constructor (fabric: LinkFabric, shards: number, log: Logger) {
    this.fabric = fabric
    this.shards = shards
    this.log = log
  }

  /** Listens at `path` for shards with a higher index. */
  async listen (path: string): Promise<void> {
    await unlink(path).catch(() => {})
    this.server = createServer((socket) => { this.adopt(socket, undefined) })
    await new Promise<void>((resolve, reject) => { this.server!.once('error', reject); this.server!.listen(path, resolve) })
  }

  /** Resolves once every shard in `peers` has a socket to us (they say hello after connecting). */
  async waitFor (peers: number[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (peers.some(p => !this.sockets.has(p))) {
      if (Date.now() > deadline) { throw new Error(`shards ${peers.filter(p => !this.sockets.has(p)).join(',')} never connected`) }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  /** Connects to the shard `peer` listening at `path` and says who we are. */
  async connectTo (peer: number, path: string): Promise<void> {
    const socket = connect(path)
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const hello = Buffer.alloc(4)
    hello.writeUInt32BE(this.fabric.shard)
    socket.write(hello)
    this.adopt(socket, peer)
  }

  /** Opens a link connection from local node `from` to node `to` of another shard. */
  dial (from: number, to: number): MultiaddrConnection {
    const shard = this.fabric.directory.shardOf[to]
    const socket = this.sockets.get(shard)
    if (socket == null) { throw new Error(`no bridge to shard ${shard}`) }
    const id = this.fabric.shard + this.shards * this.nextId++
    const conn = this.make(id, shard, 'outbound', to)
    const body = Buffer.from(JSON.stringify({ from, to }))
    this.write(socket, OPEN, id, body)
    return conn
  }

  async close (): Promise<void> {
    this.closing = true
    for (const c of this.conns.values()) { c.abort(new StreamResetError()) }
    for (const s of this.sockets.values()) { s.destroy() }
    await new Promise<void>(resolve => { if (this.server == null) { resolve() } else { this.server.close(() => { resolve() }) } })
  }

  private make (id: number, shard: number, direction: 'inbound' | 'outbound', remote: number): BridgeConnection {
    const socket = (): Socket | undefined => this.sockets.get(shard)
    const wire: BridgeWire = {
      data: (cid, bytes) => { const s = socket(); if (s != null) { this.write(s, DATA, cid, bytes) } },
      close: (cid) => { const s = socket(); if (s != null) { this.write(s, CLOSE, cid) } },
      reset: (cid) => { const s = socket(); if (s != null) { this.write(s, RESET, cid) } }
    }
    const dir = this.fabric.directory
    const addr = direction === 'outbound' ? dir.dialAddress(remote) : `${dir.memoryAddress(remote)}-outgoing/p2p/${dir.peerIds[remote]}`
    const conn = new BridgeConnection({ id, wire, remoteAddr: multiaddr(addr), direction, log: this.log })
    this.conns.set(id, conn)
    conn.addEventListener('close', () => { this.conns.delete(id) }, { once: true })
    return conn
  }

  private write (socket: Socket, type: number, id: number, body?: Uint8Array): void {
    const head = Buffer.allocUnsafe(HEADER)
    head.writeUInt32BE(HEADER - 4 + (body?.byteLength ?? 0), 0)
    head.writeUInt8(type, 4)
    head.writeUInt32BE(id, 5)
    socket.write(head)
    if (body != null && body.byteLength > 0) { socket.write(body) }
  }

  private adopt (socket: Socket, known: number | undefined): void {
    socket.setNoDelay?.(true)
    let shard = known
    let buf: Buffer = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      if (shard == null) {
        if (buf.length < 4) { return }
        shard = buf.readUInt32BE(0)
        buf = buf.subarray(4)
        this.sockets.set(shard, socket)
      }
      // Bounded by the bytes at hand: every pass consumes one whole frame.
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0)
        if (len < HEADER - 4 || len > MAX_FRAME) {
          process.stderr.write(`[sim] bad bridge frame from shard ${shard}: length ${len}\n`)
          socket.destroy(new Error('bad bridge frame'))
          return
        }
        if (buf.length < 4 + len) { break }
        const type = buf.readUInt8(4)
        const id = buf.readUInt32BE(5)
        const body = buf.subarray(HEADER, 4 + len)
        buf = buf.subarray(4 + len)
        try {
          this.onFrame(shard, type, id, body)
        } catch (err: any) {
          // A frame for a connection that is already closing: drop it, keep the socket.
          this.conns.get(id)?.abort(err)
        }
      }
    })
    // EPIPE when the other shard finished first; anything earlier shows as missing deliveries.
    socket.on('error', (err) => { this.log('bridge socket to shard %s failed - %e', shard, err) })
    socket.on('close', () => {
      // The other shard finishing first closes it too; only a close before that is news.
      if (!this.closing) { this.log('bridge socket to shard %s closed', shard) }
    })
    if (known != null) { this.sockets.set(known, socket) }
  }

  private onFrame (shard: number, type: number, id: number, body: Buffer): void {
    if (type === OPEN) {
      const { from, to } = JSON.parse(body.toString()) as { from: number, to: number }
      const handler = this.fabric.inboundOf(to)
      const socket = this.sockets.get(shard)
      if (handler == null || this.fabric.model.isCut(from, to)) {
        if (socket != null) { this.write(socket, RESET, id) }
        return
      }
      handler(this.make(id, shard, 'inbound', from))
      return
    }
    const conn = this.conns.get(id)
    if (conn == null) { return }
    if (type === DATA) { conn.onData(new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice()) } else if (type === CLOSE) { conn.onTransportClosed() } else if (type === RESET) { conn.onRemoteReset() }
  }
}
