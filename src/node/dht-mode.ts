import { overriding, replacingComponent } from './component-proxy.ts'
import { isPublicAddress as isPublic } from './reachability.ts'
import type { Libp2pEvents, Logger, StreamHandler, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * DHT server mode only where peers can reach us. A member behind NAT that answered DHT queries
 * would be named to others as a server they cannot dial: their lookups would stall on it.
 *
 * - `server` / `client`: fixed (a bootstrap server is always a server).
 * - `auto`: server when the node holds a verified public address (an `--announce`d one, one
 * AutoNAT confirmed, a UPnP mapping AutoNAT confirmed: libp2p's address manager only returns
 * verified addresses); else client when it talks to members across the WAN (an authenticated
 * connection from a public or relayed address) yet shows no public address of its own, which
 * is what being behind NAT looks like; else server: all its peers share a private network with
 * it (a LAN or loopback mesh), where every member is reachable and a mesh of clients would have
 * no DHT at all.
 *
 * kad-dht's own automatic mode is the first rule alone, which leaves a LAN mesh without servers.
 * "Public" is the test of reachability.ts (libp2p's `isPrivate`; relayed addresses never count).
 */
export type DhtMode = 'auto' | 'server' | 'client'

export interface ModeDecision {
  mode: 'server' | 'client'
  /** Bounded reason, for the log and `node status`. */
  reason: 'configured' | 'public-address' | 'behind-nat' | 'private-network'
}

function isCircuit (ma: Multiaddr): boolean {
  return ma.getComponents().some(c => c.name === 'p2p-circuit')
}

/** The rule above, on our verified addresses and the remote addresses of authenticated connections. */
export function decideDhtMode (mode: DhtMode, own: Multiaddr[], remotes: Multiaddr[]): ModeDecision {
  if (mode !== 'auto') { return { mode, reason: 'configured' } }
  if (own.some(isPublic)) { return { mode: 'server', reason: 'public-address' } }
  if (remotes.some(ma => isPublic(ma) || isCircuit(ma))) { return { mode: 'client', reason: 'behind-nat' } }
  return { mode: 'server', reason: 'private-network' }
}

/** The part of kad-dht the controller drives. */
export interface ModeSwitch {
  getMode(): 'client' | 'server'
  setMode(mode: 'client' | 'server'): Promise<void>
}

export interface DhtModeInit {
  dht: ModeSwitch
  mode: DhtMode
  /** Our verified addresses (libp2p getMultiaddrs). */
  own(): Multiaddr[]
  /** Remote addresses of the authenticated connections. */
  remotes(): Multiaddr[]
  /** libp2p's events ('self:peer:update' when our addresses change, 'connection:close'). */
  events: TypedEventTarget<Libp2pEvents>
  log: Logger
}

/** Applies `decideDhtMode` at start and whenever our addresses or connections change. */
export class DhtModeController {
  private readonly init: DhtModeInit
  private running = false
  private queued = false
  private chain: Promise<void> = Promise.resolve()
  private current?: ModeDecision
  private readonly onChange = (): void => { this.reevaluate() }

  constructor (init: DhtModeInit) {
    this.init = init
  }

  /** The decision in force, once started. */
  get decision (): ModeDecision | undefined {
    return this.current
  }

  start (): void {
    if (this.running) { return }
    this.running = true
    this.init.events.addEventListener('self:peer:update', this.onChange)
    this.init.events.addEventListener('connection:close', this.onChange)
    this.reevaluate()
  }

  stop (): void {
    this.running = false
    this.init.events.removeEventListener('self:peer:update', this.onChange)
    this.init.events.removeEventListener('connection:close', this.onChange)
  }

  /** Re-decides (coalesced: a burst of events costs one decision); call after a peer authenticates. */
  reevaluate (): void {
    if (!this.running || this.queued) { return }
    this.queued = true
    this.chain = this.chain.then(async () => {
      this.queued = false
      if (!this.running) { return }
      const next = decideDhtMode(this.init.mode, this.init.own(), this.init.remotes())
      const changed = this.current?.mode !== next.mode || this.current?.reason !== next.reason
      this.current = next
      if (this.init.dht.getMode() !== next.mode) { await this.init.dht.setMode(next.mode) }
      if (changed) { this.init.log('DHT %s mode (%s)', next.mode, next.reason) }
    }).catch((err: Error) => { this.init.log.error('setting the DHT mode failed - %e', err) })
  }

  /** Resolves once pending decisions are applied (tests, status). */
  async settled (): Promise<ModeDecision | undefined> {
    await this.chain
    return this.current
  }
}

interface GuardingGate { guard(handler: StreamHandler): StreamHandler }

/**
 * kad-dht's components with a registrar that wraps every handler it registers in the auth guard.
 * The node wraps all handlers once after start (MeshAuth.guardAll); kad-dht re-registers its
 * handler each time it enters server mode, and that raw handler would answer strangers until the
 * next wrap. Wrapped at registration, there is no such moment.
 */
export function withGuardedRegistrar<C extends { registrar: any }> (components: C, gate: () => GuardingGate): C {
  const registrar = components.registrar
  const guarded = overriding(registrar, {
    handle: async (protocol: string, handler: StreamHandler, options?: unknown) => registrar.handle(protocol, gate().guard(handler), options)
  })
  return replacingComponent(components, 'registrar', guarded)
}
