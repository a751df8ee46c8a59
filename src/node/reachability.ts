import { TypedEventEmitter } from '@libp2p/interface'
import { getNetConfig, isPrivate } from '@libp2p/utils'
import { AUTONAT_DIAL_REQUEST } from './autonat.ts'
import type { AutonatCounts, AutonatLedger } from './autonat.ts'
import type { UpnpMapping } from './upnp.ts'
import type { AuthenticatedPeer } from '../../protocols/auth/index.ts'
import type { Connection, Libp2pEvents, Logger, PeerStore, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Whether members can reach this node directly, from libp2p's address manager (which AutoNAT,
 * `--announce` and UPnP feed). `public`: at least one public address is verified: announced,
 * or dialled back by a member through AutoNAT (a plain listen address or a UPnP mapping).
 * `unconfirmed`: public candidates exist (a public listen address, an address peers observed,
 * a UPnP mapping) but no member has dialled one back: behind NAT, or not checked yet.
 * `private`: no public candidate at all: a LAN or loopback mesh, where peers reach us on the
 * private network and AutoNAT has nothing to check.
 *
 * "Public" is libp2p's own test (`isPrivate` of `@libp2p/utils`: RFC 1918, 100.64/10, TEST-NETs
 * and loopback are not), and relayed (/p2p-circuit) addresses never count. The relay server
 * (relay-services.ts) and the DHT mode (dht-mode.ts) apply the same test to libp2p's verified
 * addresses, so `public` here is exactly when they serve.
 */
export type ReachabilityStatus = 'public' | 'unconfirmed' | 'private'

/** libp2p's address metadata (AddressManager.getAddressesWithMetadata), the fields read here. */
export interface AddressInfo {
  multiaddr: Multiaddr
  verified: boolean
  type: string
}

export interface ReachabilityReport {
  status: ReachabilityStatus
  /** Verified public addresses, as members are told them. */
  verified: string[]
  /** Public candidates no member has dialled back yet. */
  unconfirmed: string[]
  /** Our addresses that a UPnP gateway forwards to us, verified or not. */
  mapped: string[]
  autonat: AutonatCounts & { enabled: boolean }
  upnp: { enabled: boolean }
}

/** Most addresses listed in a report: libp2p keeps at most 10 observed ones besides its listeners. */
const MAX_LISTED = 32

function isCircuit (ma: Multiaddr): boolean {
  return ma.getComponents().some(c => c.name === 'p2p-circuit')
}

/** A publicly routable, non-relayed IP or DNS address. */
export function isPublicAddress (ma: Multiaddr): boolean {
  return !isCircuit(ma) && ma.getComponents().some(c => c.name === 'ip4' || c.name === 'ip6' || c.name.startsWith('dns')) && !isPrivate(ma)
}

/** The key of a public socket address, `host/port/protocol`, as UPnP mappings are recorded. */
export function socketKey (host: string, port: number | string, protocol: string): string {
  return `${host}/${String(port)}/${protocol}`
}

function keyOf (ma: Multiaddr): string | undefined {
  try {
    const c = getNetConfig(ma)
    return c.port != null && c.protocol != null ? socketKey(c.host, c.port, c.protocol) : undefined
  } catch {
    return undefined
  }
}

/**
 * The status above, from the address manager's list; `upnp` holds the socket keys a UPnP
 * gateway mapped (libp2p's own metadata does not tell a UPnP mapping from other IP mappings).
 */
export function classifyReachability (addresses: readonly AddressInfo[], upnp: ReadonlySet<string> = new Set()): { status: ReachabilityStatus, verified: string[], unconfirmed: string[], mapped: string[] } {
  const verified = new Set<string>()
  const unconfirmed = new Set<string>()
  const mapped = new Set<string>()
  for (const a of addresses) {
    if (!isPublicAddress(a.multiaddr)) { continue }
    const s = a.multiaddr.toString()
    const key = upnp.size > 0 ? keyOf(a.multiaddr) : undefined
    if (key != null && upnp.has(key)) { mapped.add(s) }
    if (a.verified) { verified.add(s) } else { unconfirmed.add(s) }
  }
  for (const s of verified) { unconfirmed.delete(s) }
  let status: ReachabilityStatus = 'private'
  if (verified.size > 0) { status = 'public' } else if (unconfirmed.size > 0) { status = 'unconfirmed' }
  const list = (set: Set<string>): string[] => [...set].slice(0, MAX_LISTED)
  return { status, verified: list(verified), unconfirmed: list(unconfirmed), mapped: list(mapped) }
}

export interface ReachabilityEvents {
  /** The status changed (not fired for address changes within one status). */
  change: CustomEvent<ReachabilityReport>
}

/** The libp2p components the service reads (libp2p passes its whole components object). */
export interface ReachabilityComponents {
  addressManager: { getAddressesWithMetadata(): AddressInfo[] }
  events: TypedEventTarget<Libp2pEvents>
  peerStore: PeerStore
  logger: { forComponent(name: string): Logger }
  /** The mesh services, present in libp2p's components under their names. */
  auth: { authenticatedConnections(): Array<{ connection: Connection, peer: AuthenticatedPeer }> }
  identify: { identify(connection: Connection, options?: { signal?: AbortSignal }): Promise<unknown> }
}

export interface ReachabilityInit {
  ledger: AutonatLedger
  autonat: boolean
  upnp: boolean
  /** Members asked again when a new candidate appears (each costs one identify round trip). */
  recheckPeers?: number
  /** Deadline of one such identify, ms. */
  recheckTimeoutMs?: number
}

/**
 * The reachability signal: `report()` at any time, a `change` event when the status moves.
 * Recomputed when libp2p's addresses may have changed: our own peer record updated (AutoNAT
 * verdicts, listeners), a peer's identify (it may bring an observed address).
 *
 * It also closes one gap of libp2p's AutoNAT v2 client, which asks a peer to check our
 * candidates only when that peer identifies: a UPnP mapping made after the node met its
 * members (the usual order: the gateway answers seconds after start) would wait for the next
 * new member. `recheck()` (called on each new mapping) identifies with a few authenticated
 * members that serve AutoNAT, which makes the client ask them.
 */
export class Reachability extends TypedEventEmitter<ReachabilityEvents> {
  private readonly components: ReachabilityComponents
  private readonly init: ReachabilityInit
  private readonly log: Logger
  private last?: ReachabilityStatus
  /** Socket keys UPnP gateways mapped for us (a handful: one per listen port and gateway). */
  private readonly mappedKeys = new Set<string>()
  private running = false
  private readonly onUpdate = (): void => { this.update() }

  constructor (components: ReachabilityComponents, init: ReachabilityInit) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('dadm-mesh:reachability')
  }

  readonly [Symbol.toStringTag] = '@dadm-mesh/reachability'

  get status (): ReachabilityStatus {
    return this.report().status
  }

  report (): ReachabilityReport {
    const c = classifyReachability(this.components.addressManager.getAddressesWithMetadata(), this.mappedKeys)
    return { ...c, autonat: { enabled: this.init.autonat, ...this.init.ledger.counts() }, upnp: { enabled: this.init.upnp } }
  }

  start (): void {
    this.running = true
    for (const type of ['self:peer:update', 'peer:identify', 'transport:listening', 'transport:close'] as const) {
      this.components.events.addEventListener(type, this.onUpdate)
    }
  }

  afterStart (): void {
    this.update()
  }

  stop (): void {
    this.running = false
    for (const type of ['self:peer:update', 'peer:identify', 'transport:listening', 'transport:close'] as const) {
      this.components.events.removeEventListener(type, this.onUpdate)
    }
  }

  /** Recomputes the status and fires `change` if it moved. */
  update (): void {
    if (!this.running) { return }
    const report = this.report()
    if (report.status === this.last) { return }
    this.log('reachability %s -> %s (verified %s)', this.last ?? 'none', report.status, report.verified.join(' '))
    this.last = report.status
    this.safeDispatchEvent('change', { detail: report })
  }

  /** A UPnP gateway mapped a port for us: remember it for the report, and have members check it. */
  upnpMapped (mapping: UpnpMapping): void {
    if (this.mappedKeys.size < MAX_LISTED) { this.mappedKeys.add(socketKey(mapping.externalHost, mapping.externalPort, mapping.protocol)) }
    this.recheck()
  }

  /** Asks a few authenticated members that serve AutoNAT to check our candidates again. */
  recheck (): void {
    if (!this.running || !this.init.autonat) { return }
    this.update()
    void this.askMembers().catch((err: Error) => { this.log.error('AutoNAT recheck failed - %e', err) })
  }

  private async askMembers (): Promise<void> {
    const max = this.init.recheckPeers ?? 3
    const picked: Connection[] = []
    for (const { connection } of this.components.auth.authenticatedConnections()) {
      if (picked.length >= max) { break }
      // A relayed connection cannot carry the dial back's result fairly (the relay's limits); skip it.
      if (connection.status !== 'open' || connection.limits != null) { continue }
      const peer = await this.components.peerStore.get(connection.remotePeer).catch(() => undefined)
      if (peer?.protocols.includes(AUTONAT_DIAL_REQUEST) === true) { picked.push(connection) }
    }
    const timeoutMs = this.init.recheckTimeoutMs ?? 10_000
    await Promise.all(picked.map(async (connection) => {
      await this.components.identify.identify(connection, { signal: AbortSignal.timeout(timeoutMs) })
        .catch((err: Error) => { this.log('identify of %p for AutoNAT failed - %e', connection.remotePeer, err) })
    }))
  }
}

/** The service factory for libp2p's `services` map. */
export function reachabilityService (init: ReachabilityInit): (components: ReachabilityComponents) => Reachability {
  return (components) => new Reachability(components, init)
}
