/*
 * A libp2p peer with no mesh certificate, run inside a lab namespace: what a stranger on the WAN
 * can do. Prints one JSON object on stdout.
 *
 *   node lab/stranger.ts dial MULTIADDR
 *     a plain QUIC dial: does a connection to that peer come up at all? (The UPnP check: the
 *     address is reachable from outside; TLS proves the peer id.)
 *   node lab/stranger.ts attack RELAY_MULTIADDR MEMBER_PEER_ID
 *     asks the relay for a reservation and for a relayed connection to the member (circuit relay
 *     v2 hop messages, written by hand so that the relay's exact answer is seen), asks the DHT for
 *     the member, notes what it learnt (peers, protocols and addresses in its peer store), then
 *     dials the member through the relay the library way.
 */
import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tls } from '@libp2p/tls'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'

const HOP = '/libp2p/circuit/relay/0.2.0/hop'
/** Each attempt's deadline: a refused stranger should hear "no" (or nothing) well within it. */
const STEP_MS = 8_000
/** Circuit relay v2 status codes (the hop protocol's protobuf enum). */
const STATUS: Record<number, string> = { 0: 'UNUSED', 100: 'OK', 200: 'RESERVATION_REFUSED', 201: 'RESOURCE_LIMIT_EXCEEDED', 202: 'PERMISSION_DENIED', 203: 'CONNECTION_FAILED', 204: 'NO_RESERVATION', 400: 'MALFORMED_MESSAGE', 401: 'UNEXPECTED_MESSAGE' }

function varint (n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return out
}

/** HopMessage { type = 1; peer = 2 { id = 1 } }. RESERVE is type 0, CONNECT type 1. */
function hopMessage (type: 0 | 1, peerId?: Uint8Array): Uint8Array {
  const bytes = [0x08, type]
  if (peerId != null) {
    const peer = [0x0a, ...varint(peerId.length), ...peerId]
    bytes.push(0x12, ...varint(peer.length), ...peer)
  }
  return Uint8Array.from(bytes)
}

/** The `status` (field 5) of a HopMessage, or null when absent; bounded by the frame's length. */
function statusOf (buf: Uint8Array): string | null {
  let i = 0
  const readVarint = (): number => {
    let v = 0
    let shift = 0
    while (i < buf.length && shift < 35) {
      const b = buf[i++]
      v += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) { return v }
      shift += 7
    }
    throw new Error('bad varint')
  }
  while (i < buf.length) {
    const tag = readVarint()
    const [field, wire] = [tag >>> 3, tag & 7]
    if (wire === 0) {
      const v = readVarint()
      if (field === 5) { return STATUS[v] ?? String(v) }
    } else if (wire === 2) {
      i += readVarint()
    } else {
      throw new Error(`unexpected wire type ${wire}`)
    }
  }
  return null
}

const errText = (err: unknown): string => { const e = err as Error & { code?: string }; return `${e.name}${e.code != null ? ` ${e.code}` : ''}: ${e.message}` }

async function create (): Promise<Libp2p<{ identify: Identify, ping: Ping, dht: KadDHT }>> {
  return createLibp2p({
    addresses: { listen: [] },
    transports: [quic(), circuitRelayTransport()],
    connectionEncrypters: [tls()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      // kad-dht pings peers before it evicts them from its table.
      ping: ping(),
      dht: kadDHT({ clientMode: true, peerInfoMapper: removePrivateAddressesMapper })
    }
  })
}

async function hop (node: Libp2p, relay: string, msg: Uint8Array): Promise<{ status: string | null, error: string | null }> {
  try {
    const stream = await node.dialProtocol(multiaddr(relay), HOP, { signal: AbortSignal.timeout(STEP_MS) })
    const lp = lpStream(stream, { maxDataLength: 4096 })
    await lp.write(msg, { signal: AbortSignal.timeout(STEP_MS) })
    const answer = await lp.read({ signal: AbortSignal.timeout(STEP_MS) })
    await stream.close().catch(() => {})
    return { status: statusOf(answer.subarray()), error: null }
  } catch (err) {
    return { status: null, error: errText(err) }
  }
}

async function dial (addr: string): Promise<void> {
  const node = await create()
  try {
    const conn = await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(STEP_MS) })
    process.stdout.write(JSON.stringify({ ok: true, remotePeer: conn.remotePeer.toString(), remoteAddr: conn.remoteAddr.toString(), error: null }) + '\n')
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, remotePeer: null, remoteAddr: null, error: errText(err) }) + '\n')
  } finally {
    await node.stop()
  }
}

async function attack (relay: string, member: string): Promise<void> {
  const node = await create()
  const relayPeer = multiaddr(relay).getComponents().find(c => c.name === 'p2p')?.value as string
  const memberId = peerIdFromString(member)
  try {
    const reserve = await hop(node, relay, hopMessage(0))
    const connect = await hop(node, relay, hopMessage(1, memberId.toMultihash().bytes))
    let dhtFound: string[] = []
    let dhtError: string | null = null
    try {
      const info = await node.peerRouting.findPeer(memberId, { signal: AbortSignal.timeout(STEP_MS) })
      dhtFound = info.multiaddrs.map(String)
    } catch (err) {
      dhtError = errText(err)
    }
    // What it learnt, read before the relayed dial: that dial writes the member's id and circuit
    // address into the stranger's own peer store, which is not something the mesh told it.
    const peers = await node.peerStore.all()
    const relayEntry = peers.find(p => p.id.toString() === relayPeer)
    let relayedDial: { ok: boolean, error: string | null }
    try {
      await node.dial(multiaddr(`${relay}/p2p-circuit/p2p/${member}`), { signal: AbortSignal.timeout(STEP_MS) })
      relayedDial = { ok: true, error: null }
    } catch (err) {
      relayedDial = { ok: false, error: errText(err) }
    }
    process.stdout.write(JSON.stringify({
      reserve,
      connect,
      relayedDial,
      dht: { found: dhtFound, error: dhtError },
      learned: {
        peers: peers.map(p => p.id.toString()).filter(id => id !== relayPeer),
        relayProtocols: relayEntry?.protocols ?? [],
        relayAddrs: relayEntry?.addresses.map(a => a.multiaddr.toString()) ?? []
      }
    }) + '\n')
  } finally {
    await node.stop()
  }
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === 'dial' && rest.length === 1) {
  await dial(rest[0])
} else if (mode === 'attack' && rest.length === 2) {
  await attack(rest[0], rest[1])
} else {
  process.stderr.write('usage: stranger.ts dial MULTIADDR | attack RELAY_MULTIADDR MEMBER_PEER_ID\n')
  process.exit(2)
}
