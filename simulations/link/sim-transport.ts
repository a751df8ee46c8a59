import { ConnectionFailedError, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { memory } from '@libp2p/memory'
import { peerIdIn } from './directory.ts'
import type { ShardBridge } from './bridge.ts'
import type { LinkFabric } from './fabric.ts'
import type { ComponentLogger, CreateListenerOptions, DialTransportOptions, Listener, MultiaddrConnection, PeerId, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface SimTransportComponents {
  peerId: PeerId
  logger: ComponentLogger
}

/**
 * `@libp2p/memory` with the simulation's link model in between: dials to nodes of the same shard
 * are memory connections, dials to other shards go over the bridge; either way the connection is
 * shaped by the fabric before the upgrader (TLS 1.3 + yamux) sees it, and a dial across a
 * partition fails at once.
 */
class SimLinkTransport implements Transport {
  readonly [transportSymbol] = true as const
  readonly [Symbol.toStringTag] = '@dadm-mesh/sim-link'
  readonly [serviceCapabilities] = ['@libp2p/transport']
  private readonly inner: Transport
  private readonly fabric: LinkFabric
  private readonly bridge?: ShardBridge
  private readonly local: number

  constructor (components: SimTransportComponents, fabric: LinkFabric, bridge?: ShardBridge) {
    this.inner = memory()(components)
    this.fabric = fabric
    this.bridge = bridge
    const local = fabric.directory.indexOf(components.peerId.toString())
    if (local == null) { throw new ConnectionFailedError('node is not in the run directory') }
    this.local = local
  }

  async dial (ma: Multiaddr, options: DialTransportOptions): Promise<any> {
    const remote = this.remoteOfAddr(ma.toString())
    if (remote == null) { throw new ConnectionFailedError(`${ma.toString()} is not a node of this run`) }
    this.fabric.checkReachable(this.local, remote)
    const upgrader = this.fabric.shapingUpgrader(options.upgrader, this.local, () => remote)
    if (this.fabric.isLocal(remote)) {
      return this.inner.dial(ma, { ...options, upgrader })
    }
    if (this.bridge == null) { throw new ConnectionFailedError(`node ${remote} is in another shard and there is no bridge`) }
    const maConn = this.bridge.dial(this.local, remote)
    try {
      return await upgrader.upgradeOutbound(maConn, options)
    } catch (err: any) {
      maConn.abort(err)
      throw err
    }
  }

  createListener (options: CreateListenerOptions): Listener {
    const remoteOf = (c: MultiaddrConnection): number | undefined => this.remoteOfAddr(c.remoteAddr.toString())
    const upgrader = this.fabric.shapingUpgrader(options.upgrader, this.local, remoteOf)
    // Bridge connections of other shards enter through the same shaping upgrader.
    this.fabric.setInbound(this.local, (maConn) => {
      upgrader.upgradeInbound(maConn, { signal: AbortSignal.timeout(10_000) }).catch((err: Error) => { maConn.abort(err) })
    })
    const listener = this.inner.createListener({ ...options, upgrader })
    listener.addEventListener('close', () => { this.fabric.clearInbound(this.local) })
    return listener
  }

  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.inner.listenFilter(multiaddrs)
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.inner.dialFilter(multiaddrs)
  }

  private remoteOfAddr (addr: string): number | undefined {
    const peer = peerIdIn(addr)
    if (peer != null) { return this.fabric.directory.indexOf(peer) }
    const m = /-n(\d+)(?:-outgoing)?$/.exec(addr)
    return m != null ? Number(m[1]) : undefined
  }
}

/** The transport factory for libp2p's `transports` list. */
export function simLinkTransport (fabric: LinkFabric, bridge?: ShardBridge): (components: SimTransportComponents) => Transport {
  return (components) => new SimLinkTransport(components, fabric, bridge)
}
