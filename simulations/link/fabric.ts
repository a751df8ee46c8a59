import { ConnectionFailedError } from '@libp2p/interface'
import { Rng } from '../core/rng.ts'
import { DelayLine } from './delay-line.ts'
import type { Directory } from './directory.ts'
import type { LinkModel } from './link-model.ts'
import type { MultiaddrConnection, Upgrader } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'

/** Something that can take an inbound connection for a local node (its memory listener's upgrader). */
export type InboundHandler = (maConn: MultiaddrConnection) => void

interface LiveLink {
  local: number
  remote: number
  conn: MultiaddrConnection
}

/**
 * The in-process network of one shard: shapes every link connection of its nodes with the link
 * model (delay, jitter, loss, bandwidth on the sending side), counts bytes per node, and cuts
 * the connections that cross a partition. Connections to nodes of other shards come from the
 * bridge (bridge.ts), shaped the same way.
 */
export class LinkFabric {
  readonly model: LinkModel
  readonly directory: Directory
  readonly shard: number
  /** Bytes each node's link connections sent and received (transport bytes: TLS and yamux included). */
  readonly bytesSent: Float64Array
  readonly bytesReceived: Float64Array
  private readonly rng: Rng
  private readonly live = new Set<LiveLink>()
  private readonly inbound = new Map<number, InboundHandler>()
  private nextLine = 0

  constructor (model: LinkModel, directory: Directory, shard: number, seed: string) {
    this.model = model
    this.directory = directory
    this.shard = shard
    this.rng = new Rng(`${seed}/links/${shard}`)
    this.bytesSent = new Float64Array(directory.size)
    this.bytesReceived = new Float64Array(directory.size)
    model.addEventListener('partition', () => { this.cutCrossing() })
  }

  isLocal (node: number): boolean {
    return this.directory.shardOf[node] === this.shard
  }

  /** Refuses a dial across a partition the way a dead route does: at once. */
  checkReachable (local: number, remote: number): void {
    if (this.model.isCut(local, remote)) {
      throw new ConnectionFailedError(`link ${local} -> ${remote} is partitioned`)
    }
  }

  setInbound (node: number, handler: InboundHandler): void {
    this.inbound.set(node, handler)
  }

  clearInbound (node: number): void {
    this.inbound.delete(node)
  }

  inboundOf (node: number): InboundHandler | undefined {
    return this.inbound.get(node)
  }

  /**
   * Puts the link model between `conn` and its wire: what it sends goes through a delay line
   * before the transport's own sendData; an orderly close waits for the line to drain.
   */
  shape (conn: MultiaddrConnection, local: number, remote: number): MultiaddrConnection {
    const c = conn as any
    const send = c.sendData.bind(c) as (d: Uint8ArrayList) => unknown
    const sendClose = c.sendClose.bind(c) as (o?: unknown) => Promise<void>
    const sendReset = c.sendReset.bind(c) as (e: Error) => void
    const onData = c.onData.bind(c) as (d: Uint8Array | Uint8ArrayList) => void
    const line = new DelayLine<Uint8ArrayList>(() => this.model.params(local, remote), this.rng.fork(`line-${this.nextLine++}`), (d) => {
      if (c.status === 'open' || c.status === 'closing') { send(d) }
    }, undefined, (chunks) => new Uint8ArrayList(...chunks))
    c.sendData = (data: Uint8ArrayList) => {
      this.bytesSent[local] += data.byteLength
      line.push(data, data.byteLength)
      return { sentBytes: data.byteLength, canSendMore: true }
    }
    c.sendClose = async (options?: unknown) => {
      await line.drained()
      await sendClose(options)
    }
    c.sendReset = (err: Error) => {
      line.clear()
      sendReset(err)
    }
    c.onData = (data: Uint8Array | Uint8ArrayList) => {
      this.bytesReceived[local] += data.byteLength
      onData(data)
    }
    const entry: LiveLink = { local, remote, conn }
    this.live.add(entry)
    conn.addEventListener('close', () => {
      line.clear()
      this.live.delete(entry)
    }, { once: true })
    return conn
  }

  /** Wraps an upgrader so that every connection it upgrades for `local` is shaped first. */
  shapingUpgrader (upgrader: Upgrader, local: number, remoteOf: (conn: MultiaddrConnection) => number | undefined): Upgrader {
    const fabric = this
    return new Proxy(upgrader, {
      get (target, prop) {
        if (prop === 'upgradeOutbound' || prop === 'upgradeInbound') {
          return async (maConn: MultiaddrConnection, opts: any) => {
            const remote = remoteOf(maConn)
            if (remote == null) {
              maConn.abort(new ConnectionFailedError('connection from outside the simulated network'))
              throw new ConnectionFailedError('connection from outside the simulated network')
            }
            fabric.shape(maConn, local, remote)
            return (target as any)[prop](maConn, opts)
          }
        }
        const v = Reflect.get(target, prop, target)
        return typeof v === 'function' ? v.bind(target) : v
      }
    })
  }

  /** Live link connections (for tests and progress). */
  get liveCount (): number {
    return this.live.size
  }

  /** Live link connections whose other end is in another shard. */
  get crossShardCount (): number {
    let n = 0
    for (const l of this.live) { if (!this.isLocal(l.remote)) { n++ } }
    return n
  }

  private cutCrossing (): void {
    const err = new ConnectionFailedError('link partitioned')
    for (const l of [...this.live]) {
      if (this.model.isCut(l.local, l.remote)) { l.conn.abort(err) }
    }
  }
}
