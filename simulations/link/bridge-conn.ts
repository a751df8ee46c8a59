import { AbstractMultiaddrConnection } from '@libp2p/utils'
import type { AbortOptions, Logger, MessageStreamDirection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The bridge side of a connection: how its bytes and ends leave this shard. */
export interface BridgeWire {
  data(id: number, bytes: Uint8Array): void
  close(id: number): void
  reset(id: number): void
}

/**
 * A link connection whose other end is a node in another shard process: bytes go as frames
 * over the shards' socket (bridge.ts), like @libp2p/memory's connections go through a pushable.
 */
export class BridgeConnection extends AbstractMultiaddrConnection {
  readonly bridgeId: number
  private readonly wire: BridgeWire

  constructor (init: { id: number, wire: BridgeWire, remoteAddr: Multiaddr, direction: MessageStreamDirection, log: Logger }) {
    super({ remoteAddr: init.remoteAddr, direction: init.direction, log: init.log })
    this.bridgeId = init.id
    this.wire = init.wire
  }

  sendData (data: Parameters<AbstractMultiaddrConnection['sendData']>[0]): { sentBytes: number, canSendMore: boolean } {
    this.wire.data(this.bridgeId, data.subarray())
    return { sentBytes: data.byteLength, canSendMore: true }
  }

  sendReset (): void {
    this.wire.reset(this.bridgeId)
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    this.wire.close(this.bridgeId)
    options?.signal?.throwIfAborted()
  }

  sendPause (): void {
    // The socket between shards carries every link; pausing one link is not modelled.
  }

  sendResume (): void {}
}
