import { createSocket } from 'node:dgram'
import type { Socket } from 'node:dgram'

/**
 * A UDP relay whose upstream side is bound to a chosen loopback address (127.0.0.2, ...), so a
 * QUIC dialer in this process reaches the target from that source address. The QUIC client of
 * @chainsafe/libp2p-quic binds 0.0.0.0:0 and has no bind option, and on loopback the kernel
 * always picks 127.0.0.1 as source; relaying datagrams one for one keeps the QUIC connection
 * real (handshake, streams, resets) while the target sees the relay's source address. One
 * upstream socket per client socket, so each client stays one 4-tuple to the target.
 */
export interface UdpRelay {
  /** Where the clients dial: 127.0.0.1 and this port. */
  port: number
  close(): Promise<void>
}

export async function udpRelay (sourceAddress: string, targetPort: number, targetHost = '127.0.0.1'): Promise<UdpRelay> {
  const front = createSocket('udp4')
  const upstreams = new Map<string, Socket>()
  await new Promise<void>((resolve) => { front.bind(0, '127.0.0.1', resolve) })
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`
    let up = upstreams.get(key)
    if (up == null) {
      const socket = createSocket('udp4')
      socket.on('message', (back) => { front.send(back, rinfo.port, rinfo.address) })
      socket.on('error', () => {})
      socket.bind(0, sourceAddress)
      upstreams.set(key, socket)
      up = socket
    }
    up.send(msg, targetPort, targetHost)
  })
  front.on('error', () => {})
  return {
    port: front.address().port,
    close: async () => {
      for (const s of upstreams.values()) { s.close() }
      upstreams.clear()
      await new Promise<void>((resolve) => { front.close(() => { resolve() }) })
    }
  }
}
