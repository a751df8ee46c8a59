import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { isPrivate } from '@libp2p/utils'
import { relaySafeAddressManager } from './relay-addresses.ts'
import { isRelayedAddr } from './relay-gate.ts'
import type { RelayOptions } from './relay-options.ts'
import type { CircuitRelayServerComponents, CircuitRelayService, CircuitRelayTransportComponents } from '@libp2p/circuit-relay-v2'
import type { AbortOptions, Libp2pEvents, Logger, Metrics, PeerInfo, Startable, StreamHandler, Transport, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

// libp2p's internal component types, through the relay package's own component interfaces.
type RandomWalk = CircuitRelayTransportComponents['randomWalk']
type AddressManager = CircuitRelayServerComponents['addressManager']
type Registrar = CircuitRelayServerComponents['registrar']

/**
 * libp2p's circuit relay v2 set up for members: the transport every member runs (dial through a
 * member relay, accept relayed connections, keep `reservations` slots), and the server publicly
 * reachable members run. Who may use either is relay-gate.ts.
 */

/** `/p2p-circuit` once per wanted slot: libp2p's relay transport then finds a relay for each among the peers that serve one. */
export function relayListenAddrs (o: RelayOptions): string[] {
  return o.enabled ? Array.from({ length: o.reservations }, () => '/p2p-circuit') : []
}

/**
 * A random walk that finds nothing and ends when asked to. libp2p's relay discovery walks the
 * DHT for relays while a slot is free; in a mesh where no member serves yet (all behind NAT, or
 * a LAN) that walk repeats kad queries back to back (measured: most of a core with one peer).
 * Members find relays without it: every authenticated member is identified, and one that serves
 * the hop protocol is offered a slot at once (the transport's topology); discovery events
 * (bootstrap, mDNS, DHT) and the peer store feed the rest.
 */
const IDLE_WALK: RandomWalk = {
  async * walk (options?: AbortOptions): AsyncGenerator<PeerInfo> {
    const signal = options?.signal
    if (signal == null || signal.aborted) { return }
    await new Promise<void>(resolve => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
    yield * []
  }
}

/**
 * libp2p's events as the relay transport sees them, less peer discoveries. While it lacks a slot
 * its discovery dials every peer anyone announces (mDNS, bootstrap, DHT), beside the node's own
 * discovery dials, which are bounded and can be off (`discovery.dialDiscovered`). The node's
 * dials, keep-alive and bootstrap bring it members; each that serves a relay is offered a slot
 * when it is identified.
 */
function withoutDiscovery (events: CircuitRelayTransportComponents['events']): CircuitRelayTransportComponents['events'] {
  return {
    addEventListener: (type: any, listener: any, options?: any) => { if (type !== 'peer:discovery') { events.addEventListener(type, listener, options) } },
    removeEventListener: (type: any, listener?: any, options?: any) => { events.removeEventListener(type, listener, options) },
    dispatchEvent: (event: Event) => events.dispatchEvent(event),
    safeDispatchEvent: (type: any, detail?: any) => events.safeDispatchEvent(type, detail),
    listenerCount: (type: string) => events.listenerCount(type)
  } as unknown as CircuitRelayTransportComponents['events']
}

/** The relay transport (client side), on libp2p's components but for the random walk and discovery events. */
export function relayTransport (o: RelayOptions): (components: CircuitRelayTransportComponents & { metrics?: Metrics }) => Transport {
  const factory = circuitRelayTransport({
    // One reservation at a time. With more, two jobs can both see a free slot when they start;
    // the one that ends second finds none, throws, and leaves behind its reservation on the relay
    // (a slot wasted there) and its refresh timer (which keeps the process alive for an hour and
    // later reserves again). A relay that never answers holds the next one up for at most
    // reservationTimeoutMs.
    reservationConcurrency: 1,
    reservationCompletionTimeout: o.reservationTimeoutMs,
    // Relayed connections arriving through one relay at once.
    maxInboundStopStreams: o.maxCircuitsToPeer
  })
  // Taken one by one: libp2p's components object is a proxy that cannot be spread.
  return (c) => factory({
    peerId: c.peerId,
    upgrader: c.upgrader,
    addressManager: relaySafeAddressManager(c.addressManager),
    connectionGater: c.connectionGater,
    peerStore: c.peerStore,
    connectionManager: c.connectionManager,
    transportManager: c.transportManager,
    registrar: c.registrar,
    logger: c.logger,
    events: withoutDiscovery(c.events),
    randomWalk: IDLE_WALK,
    ...(c.metrics != null ? { metrics: c.metrics } : {})
  } as CircuitRelayTransportComponents)
}

/** What the member relay server needs beyond libp2p's relay server components. */
export interface MemberRelayServerComponents extends CircuitRelayServerComponents {
  events: TypedEventTarget<Libp2pEvents>
  /** The auth service, present in libp2p's components under its service name. */
  auth: { guard(handler: StreamHandler): StreamHandler }
}

/** The relay server service as the node sees it. */
export interface MemberRelayServer extends Startable {
  /** True while the relay serves (hop protocol handled). */
  readonly serving: boolean
  /** Members holding a reservation here now. */
  reservationCount(): number
  /** Bytes carried on hop streams so far (circuits and their set-up): from the dialling members, and back to them. */
  relayedBytes(): { fromDialers: number, toDialers: number }
  /** libp2p's server (its `relay:reservation` events, its reservation map). */
  readonly relay: CircuitRelayService
}

/**
 * The relay server as a service that can start later than the node: `on` serves from the start,
 * `auto` whenever the node holds a public or announced (non-relayed) address, and stops when it
 * loses the last one. Its hop handler is registered through the auth guard, so that a relay
 * starting after the node's other protocols were guarded is guarded too.
 */
class DefaultMemberRelayServer implements MemberRelayServer {
  readonly relay: CircuitRelayService & Startable
  private readonly components: MemberRelayServerComponents
  private readonly mode: RelayOptions['server']
  private readonly log: Logger
  private running = false
  private active = false
  /** Serialises start/stop of the inner server as addresses come and go. */
  private switching: Promise<void> = Promise.resolve()
  private readonly bytes = { fromDialers: 0, toDialers: 0 }

  constructor (components: MemberRelayServerComponents, o: RelayOptions) {
    this.components = components
    this.mode = o.server
    this.log = components.logger.forComponent('dadm-mesh:relay:server')
    const registrar = components.registrar
    const guarded = {
      handle: async (protocol: string, handler: StreamHandler, options?: Parameters<Registrar['handle']>[2]) => registrar.handle(protocol, components.auth.guard(async (stream, connection) => {
        this.count(stream)
        await handler(stream, connection)
      }), options),
      unhandle: async (protocol: string) => registrar.unhandle(protocol)
    }
    this.relay = circuitRelayServer({
      hopTimeout: o.hopTimeoutMs,
      maxInboundHopStreams: o.maxCircuitsPerPeer,
      maxOutboundStopStreams: o.maxCircuitsToPeer,
      reservations: {
        maxReservations: o.maxReservations,
        reservationTtl: o.reservationTtlMs,
        // One rule for every reservation: a limit of 0 means "none" for that dimension.
        applyDefaultLimit: o.durationLimitMs > 0 || o.dataLimitBytes > 0,
        ...(o.durationLimitMs > 0 ? { defaultDurationLimit: o.durationLimitMs } : {}),
        ...(o.dataLimitBytes > 0 ? { defaultDataLimit: BigInt(o.dataLimitBytes) } : {})
      }
    })({ ...pick(components), registrar: guarded as unknown as Registrar }) as CircuitRelayService & Startable
    this.onSelfUpdate = this.onSelfUpdate.bind(this)
  }

  readonly [Symbol.toStringTag] = '@dadm-mesh/relay-server'

  get serving (): boolean {
    return this.active
  }

  reservationCount (): number {
    return this.relay.reservations.size
  }

  relayedBytes (): { fromDialers: number, toDialers: number } {
    return { ...this.bytes }
  }

  /**
   * Counts a hop stream's bytes both ways: a circuit is the hop stream joined to the target's stop
   * stream, so these are the bytes the relay carried. Observed by wrapping dispatch and send, as
   * libp2p's metrics do: an extra 'message' listener would start the stream's flow before the
   * relay code reads it.
   */
  private count (stream: Parameters<StreamHandler>[0]): void {
    const dispatch = stream.dispatchEvent.bind(stream)
    stream.dispatchEvent = (evt: Event): boolean => {
      if (evt.type === 'message') { this.bytes.fromDialers += (evt as Event & { data: { byteLength: number } }).data.byteLength }
      return dispatch(evt)
    }
    const send = stream.send.bind(stream)
    stream.send = (data) => {
      this.bytes.toDialers += data.byteLength
      return send(data)
    }
  }

  async start (): Promise<void> {
    this.running = true
    if (this.mode === 'on') { await this.switchTo(true) }
  }

  afterStart (): void {
    if (this.mode !== 'auto') { return }
    this.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
    this.onSelfUpdate()
  }

  async stop (): Promise<void> {
    this.running = false
    this.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
    await this.switchTo(false)
  }

  private onSelfUpdate (): void {
    if (!this.running) { return }
    void this.switchTo(hasPublicAddress(this.components.addressManager))
  }

  private async switchTo (on: boolean): Promise<void> {
    this.switching = this.switching.then(async () => {
      if (on === this.active || (on && !this.running)) { return }
      try {
        if (on) { await this.relay.start() } else { await this.relay.stop() }
        this.active = on
        this.log('relay server %s', on ? 'serving' : 'stopped')
      } catch (err: any) {
        this.log.error('relay server could not %s - %e', on ? 'start' : 'stop', err)
      }
    })
    await this.switching
  }
}

/** The components libp2p's relay server reads, taken one by one (libp2p's components object is a proxy). */
function pick (c: MemberRelayServerComponents): CircuitRelayServerComponents {
  return {
    registrar: c.registrar,
    peerStore: c.peerStore,
    addressManager: c.addressManager,
    peerId: c.peerId,
    privateKey: c.privateKey,
    connectionManager: c.connectionManager,
    connectionGater: c.connectionGater,
    logger: c.logger,
    ...(c.metrics != null ? { metrics: c.metrics } : {})
  }
}

/** True when the node advertises a direct address others can reach: a public IP, or a DNS name (announced). */
export function hasPublicAddress (addressManager: Pick<AddressManager, 'getAddresses'>): boolean {
  return addressManager.getAddresses().some((ma: Multiaddr) => !isRelayedAddr(ma) && !isPrivate(ma))
}

/**
 * The addresses a node advertises (libp2p's `announceFilter`), less two kinds of relayed address
 * members elsewhere could only fail to dial, each dropped only when the same relay also gave
 * another one:
 *
 * - through a relay's private or loopback address, when that relay gave a public one. A relay
 * hands out all its addresses with each reservation. With no public one (a LAN mesh, loopback
 * tests) all are kept.
 * - through the remote address of a connection the relay dialled to us (`inboundFrom(relay)`
 * lists those). libp2p's relay client adds the remote address of the connection it reserved
 * over to the relay's own addresses; when the relay dialled us (it bootstraps from us), that is
 * the port its QUIC dialer sent from, where nothing listens. Members that dialled it, and
 * everyone who learnt the relay's address from us, lost 5 s (a QUIC handshake timeout) per dial
 * of it.
 */
export function relayedAddrFilter (addrs: Multiaddr[], inboundFrom: (relay: string) => string[] = () => []): Multiaddr[] {
  const relayOf = (ma: Multiaddr): string | undefined => /\/p2p\/([^/]+)\/p2p-circuit/.exec(ma.toString())?.[1]
  const hopAddr = (ma: string): string => ma.replace(/\/p2p-circuit.*$/, '').replace(/\/p2p\/[^/]+$/, '')
  const perRelay = new Map<string, { count: number, public: boolean, inbound?: Set<string> }>()
  for (const ma of addrs) {
    const relay = isRelayedAddr(ma) ? relayOf(ma) : undefined
    if (relay == null) { continue }
    const r = perRelay.get(relay) ?? { count: 0, public: false }
    r.count++
    if (!isPrivate(ma)) { r.public = true }
    perRelay.set(relay, r)
  }
  if (perRelay.size === 0) { return addrs }
  return addrs.filter(ma => {
    const relay = isRelayedAddr(ma) ? relayOf(ma) : undefined
    const r = relay != null ? perRelay.get(relay) : undefined
    if (relay == null || r == null) { return true }
    if (r.public && isPrivate(ma)) { return false }
    if (r.count < 2) { return true }
    r.inbound ??= new Set(inboundFrom(relay).map(hopAddr))
    return !r.inbound.has(hopAddr(ma.toString()))
  })
}

/** The member relay server service factory (libp2p `services`). */
export function memberRelayServer (o: RelayOptions): (components: MemberRelayServerComponents) => MemberRelayServer {
  return (components) => new DefaultMemberRelayServer(components, o)
}
