import { isPeerId, TypedEventEmitter } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { AuthError } from '../../protocols/auth/index.ts'
import { MeshNodeError } from './errors.ts'
import { listenFailure } from './listen-error.ts'
import { earnsBackoff } from './strike-policy.ts'
import type { BlockList } from './block-list.ts'
import type { MeshNodeOptions } from './config.ts'
import type { RoutingTableGuard } from './dht-guard.ts'
import type { DhtModeController } from './dht-mode.ts'
import type { CrlPublication, MeshGossip } from './gossip-services.ts'
import type { MemberKeeper } from './member-keeper.ts'
import type { PeerTable } from './peer-table.ts'
import type { Reachability } from './reachability.ts'
import type { RelayAdmission } from './relay-gate.ts'
import type { RevocationReport, RevocationState } from './revocation.ts'
import type { AnomalyPayload, EquivocationReport, PublishedAnomaly } from '../../protocols/anomaly-gossip/index.ts'
import type { MeshAttest, PeerAttestedEvent, PeerDemotedEvent } from '../../protocols/attest/index.ts'
import type { AuthenticatedPeer, AuthFailure, MeshAuth, ReauthenticatedPeer, RevocationPredicate, SessionEnded } from '../../protocols/auth/index.ts'
import type { AnomalyRecord, AnomalyStore } from '../store/anomaly-store.ts'
import type { Identify } from '@libp2p/identify'
import type { AbortOptions, Connection, Libp2p, Logger, NewStreamOptions, PeerId, PeerInfo, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The libp2p services a mesh node runs; `dht` is absent when disabled. */
export interface MeshServices extends Record<string, unknown> {
  auth: MeshAuth
  attest: MeshAttest
  identify: Identify
  ping: Ping
  dht?: KadDHT
  /** Whether members can reach us directly (AutoNAT, announce, UPnP): src/node/reachability.ts. */
  reachability: Reachability
}

export interface RevokedPeerEvent { peerId: string, nodeId: string, serialHex: string }

export interface MeshNodeEvents {
  'peer:authenticated': CustomEvent<AuthenticatedPeer>
  'peer:auth-failed': CustomEvent<AuthFailure>
  'peer:revoked': CustomEvent<RevokedPeerEvent>
  /** A peer passed attestation. */
  'peer:attested': CustomEvent<PeerAttestedEvent>
  /** A peer failed attestation: it is demoted (gossip ignored, no relaying) or closed. */
  'peer:demoted': CustomEvent<PeerDemotedEvent>
  /** A live connection rests on the peer's rotated certificate from here on. */
  'peer:reauthenticated': CustomEvent<ReauthenticatedPeer>
  /** The auth service ended a session: certificate expired, or no longer verifies. */
  'session:ended': CustomEvent<SessionEnded>
  /** An anomaly signature entered the store: accepted from gossip, or published here. */
  anomaly: CustomEvent<AnomalyRecord>
  /** An origin signed two versions of one anomaly message_id; the first stays (bounded per origin). */
  'anomaly:equivocation': CustomEvent<EquivocationReport>
}

export interface MeshNodeParts {
  libp2p: Libp2p<MeshServices>
  options: MeshNodeOptions
  peers: PeerTable
  blockList: BlockList
  revocation: RevocationState
  routingGuard: RoutingTableGuard
  log: Logger
  /** Anomaly and CRL gossip with the revoke push; absent when `options.gossip.enabled` is false. */
  gossip?: MeshGossip
  /** Redial and member target; absent when `options.keepAlive.enabled` is false. */
  keeper?: MemberKeeper
  /** DHT server or client by reachability; absent without a DHT. */
  dhtMode?: DhtModeController
  /** Whether our own certificate is valid now (own-validity.ts); @default always */
  ownCertificateValid?(): boolean
}

/**
 * A running mesh member: libp2p plus the glue that makes "authenticated" mean something. Auth
 * outcomes feed the peer table and the block list; identify runs only after auth; discovered
 * peers are dialled; `applyRevocation` is the one enforcement point for revocations.
 */
export class MeshNode extends TypedEventEmitter<MeshNodeEvents> {
  readonly libp2p: Libp2p<MeshServices>
  readonly options: MeshNodeOptions
  /** Peers that authenticated at least once (the mesh peer table). */
  readonly peers: PeerTable
  /** Peers the connection gater refuses, and until when. */
  readonly blockList: BlockList
  private readonly revocation: RevocationState
  private readonly routingGuard: RoutingTableGuard
  private readonly log: Logger
  private readonly dialing = new Set<string>()
  private readonly ownCertificateValid: () => boolean
  /** Anomaly and CRL gossip and the revoke push; undefined when gossip is off. */
  readonly gossip?: MeshGossip
  /** Redials bootstrap peers and recent members, keeps `keepAlive.targetMembers` authenticated. */
  readonly keeper?: MemberKeeper
  /** Runs the DHT as server only when reachable. */
  readonly dhtMode?: DhtModeController
  /** Who may reserve on or relay through this node, and its refusals (relay-status.ts reads it); set by createMeshNode. */
  relayAdmission?: RelayAdmission

  constructor (parts: MeshNodeParts) {
    super()
    if (parts.gossip != null) {
      this.gossip = parts.gossip
      parts.gossip.anomalies.addEventListener('anomaly', (evt) => { this.safeDispatchEvent('anomaly', { detail: evt.detail }) })
      parts.gossip.anomaly.addEventListener('equivocation', (evt) => { this.safeDispatchEvent('anomaly:equivocation', { detail: evt.detail }) })
    }
    this.libp2p = parts.libp2p
    this.options = parts.options
    this.peers = parts.peers
    this.blockList = parts.blockList
    this.revocation = parts.revocation
    this.routingGuard = parts.routingGuard
    this.log = parts.log
    this.ownCertificateValid = parts.ownCertificateValid ?? (() => true)
    if (parts.keeper != null) { this.keeper = parts.keeper }
    if (parts.dhtMode != null) { this.dhtMode = parts.dhtMode }
    this.libp2p.addEventListener('peer:disconnect', (evt) => { this.keeper?.disconnected(evt.detail.toString()) })
    this.onAuthenticated = this.onAuthenticated.bind(this)
    this.onAuthFailed = this.onAuthFailed.bind(this)
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
    this.onConnectionClose = this.onConnectionClose.bind(this)
    this.onDiscovery = this.onDiscovery.bind(this)
    this.onAttested = this.onAttested.bind(this)
    this.onDemoted = this.onDemoted.bind(this)
    // Listen before start so that no auth outcome of the first connections is missed.
    this.auth.addEventListener('peer:authenticated', this.onAuthenticated)
    this.auth.addEventListener('peer:auth-failed', this.onAuthFailed)
    this.auth.addEventListener('peer:reauthenticated', (evt) => { this.onReauthenticated(evt.detail) })
    this.auth.addEventListener('session:ended', (evt) => { this.safeDispatchEvent('session:ended', { detail: evt.detail }) })
    this.libp2p.addEventListener('connection:open', this.onConnectionOpen)
    this.libp2p.addEventListener('connection:close', this.onConnectionClose)
    this.libp2p.addEventListener('peer:discovery', this.onDiscovery)
    this.attest.addEventListener('peer:attested', this.onAttested)
    this.attest.addEventListener('peer:demoted', this.onDemoted)
  }

  get attest (): MeshAttest {
    return this.libp2p.services.attest
  }

  /**
   * True when the peer's last attestation failed: gossip and DTN consult this to ignore its
   * messages and not use it as a relay, while it stays connected.
   */
  isDemoted (peerId: PeerId | string): boolean {
    return this.attest.isDemoted(peerId.toString())
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  get auth (): MeshAuth {
    return this.libp2p.services.auth
  }

  get status (): Libp2p['status'] {
    return this.libp2p.status
  }

  /** Public, unconfirmed or private, with the addresses behind it; `change` events when it moves. */
  get reachability (): Reachability {
    return this.libp2p.services.reachability
  }

  async start (): Promise<void> {
    // One line naming the address and the reason instead of libp2p's per-transport stack traces.
    try {
      await this.libp2p.start()
    } catch (err) {
      await Promise.resolve(this.libp2p.stop()).catch(() => {})
      throw listenFailure(err)
    }
    this.routingGuard.start()
    this.dhtMode?.start()
    this.keeper?.start()
  }

  async stop (): Promise<void> {
    this.keeper?.stop()
    this.dhtMode?.stop()
    this.routingGuard.stop()
    await this.libp2p.stop()
  }

  getMultiaddrs (): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  /** True when the peer has at least one open, authenticated connection. */
  isAuthenticated (peerId: PeerId | string): boolean {
    return this.peers.isAuthenticated(peerId.toString())
  }

  /** Dials `target` and resolves once that connection is mutually authenticated. */
  async dial (target: PeerId | Multiaddr | string, options: AbortOptions = {}): Promise<AuthenticatedPeer> {
    return (await this.connectAuthenticated(target, options)).peer
  }

  /** Opens a stream of `protocol` to a peer, only over an authenticated connection. */
  async openStream (target: PeerId | Multiaddr | string, protocol: string, options: NewStreamOptions = {}): Promise<Stream> {
    const { connection } = await this.connectAuthenticated(target, options)
    return connection.newStream(protocol, options)
  }

  /**
   * Dials and waits for auth. libp2p may hand back a connection another dialler opened (a kad
   * query), which that dialler closes while auth still runs when its query ends; the peer is not
   * at fault, so one fresh dial follows before giving up.
   */
  private async connectAuthenticated (target: PeerId | Multiaddr | string, options: AbortOptions): Promise<{ connection: Connection, peer: AuthenticatedPeer }> {
    for (let attempt = 0; ; attempt++) {
      const connection = await this.connect(target, options)
      try {
        return { connection, peer: await this.auth.waitForAuthentication(connection, options) }
      } catch (err: any) {
        if (attempt > 0 || err.cause?.code !== 'CLOSED' || options.signal?.aborted === true) { throw err }
      }
    }
  }

  /** Registers an application protocol; its handler only ever sees authenticated peers. */
  async handle (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void> {
    await this.libp2p.handle(protocol, this.auth.guard(handler), options)
  }

  async unhandle (protocol: string): Promise<void> {
    await this.libp2p.unhandle(protocol)
  }

  /** The anomaly store (`list()`, `get()`, events); throws MeshNodeError GOSSIP_DISABLED when gossip is off. */
  get anomalies (): AnomalyStore {
    return this.requireGossip().anomalies
  }

  /** Signs and gossips an anomaly signature as this node; `ttl` in seconds (default 1 h). See MeshGossip.publishAnomaly. */
  async publishAnomaly (payload: AnomalyPayload, options: { ttl?: number, idSuffix?: string, timestamp?: number } = {}): Promise<PublishedAnomaly> {
    return this.requireGossip().publishAnomaly(payload, options)
  }

  /** Installs a CA-signed CRL here if newer, gossips it, and pushes it to every authenticated peer. */
  async publishCrl (crlDer: Uint8Array): Promise<CrlPublication> {
    return this.requireGossip().publishCrl(crlDer)
  }

  private requireGossip (): MeshGossip {
    if (this.gossip == null) { throw new MeshNodeError('GOSSIP_DISABLED', 'this node runs without gossip (options.gossip.enabled is false)') }
    return this.gossip
  }

  /**
   * The revocation enforcement point (CRL fetch, gossip and push all end here). Installs
   * `isRevoked` as the current predicate of `source`, then for every peer it revokes: blocks it
   * for good (no redial, no inbound), closes its connections, and removes it from the peer table,
   * the DHT routing table and the peer store. Later handshakes check the predicate too.
   */
  async applyRevocation (isRevoked: RevocationPredicate, options: { source?: string } = {}): Promise<RevocationReport> {
    this.revocation.set(options.source ?? 'default', isRevoked)
    const found = new Map<string, RevokedPeerEvent>()
    for (const { peer } of this.auth.authenticatedConnections()) {
      if (this.revocation.isRevoked(peer)) { found.set(peer.peerId, { peerId: peer.peerId, nodeId: peer.nodeId, serialHex: peer.serialHex }) }
    }
    for (const record of this.peers.list()) {
      if (this.revocation.isRevoked(record.identity)) { found.set(record.peerId, { peerId: record.peerId, nodeId: record.nodeId, serialHex: record.certSerial }) }
    }
    let closedConnections = 0
    for (const revoked of found.values()) {
      closedConnections += await this.expel(revoked)
    }
    return { revoked: [...found.values()], closedConnections }
  }

  private async expel (revoked: RevokedPeerEvent): Promise<number> {
    // Block first: from here on no dial goes out and no handshake comes in.
    this.blockList.blockForever(revoked.peerId, 'REVOKED')
    const peerId = peerIdFromString(revoked.peerId)
    const connections = this.libp2p.getConnections(peerId)
    const err = new AuthError('REVOKED', 'peer revoked')
    for (const connection of connections) { connection.abort(err) }
    this.peers.remove(revoked.peerId)
    this.keeper?.forget(revoked.peerId)
    await this.routingGuard.remove(peerId)
    await this.libp2p.peerStore.delete(peerId).catch(() => {})
    this.log('revoked %p node_id=%s serial=%s: closed %d connections', peerId, revoked.nodeId, revoked.serialHex, connections.length)
    this.safeDispatchEvent('peer:revoked', { detail: revoked })
    return connections.length
  }

  private onAuthenticated (evt: CustomEvent<AuthenticatedPeer>): void {
    const peer = evt.detail
    const connection = this.auth.connectionOf(peer.connectionId)
    // A revocation applied while this handshake was in flight still wins.
    if (this.revocation.isRevoked(peer)) {
      void this.expel({ peerId: peer.peerId, nodeId: peer.nodeId, serialHex: peer.serialHex })
      return
    }
    this.peers.authenticated(peer)
    this.blockList.forgive(peer.peerId)
    this.keeper?.authenticated(peer.peerId)
    // A first link across the WAN may be the sign that this node is behind NAT.
    this.dhtMode?.reevaluate()
    if (connection != null) {
      // Identify only now: protocols and addresses of unauthenticated peers never reach the
      // peer store, so topologies (kad-dht, gossip) only ever hear of authenticated peers.
      // In the next turn: whoever awaits this auth (a dial) goes on first, not behind identify's stream open.
      setImmediate(() => {
        if (connection.status !== 'open') { return }
        this.libp2p.services.identify.identify(connection).catch((err: Error) => {
          this.log.error('identify of %p after auth failed - %e', connection.remotePeer, err)
        })
      })
    }
    this.safeDispatchEvent('peer:authenticated', { detail: peer })
  }

  /** A session moved to the peer's new certificate: the peer table follows (serial, expiry, key). */
  private onReauthenticated (peer: ReauthenticatedPeer): void {
    if (this.revocation.isRevoked(peer)) {
      void this.expel({ peerId: peer.peerId, nodeId: peer.nodeId, serialHex: peer.serialHex })
      return
    }
    this.peers.authenticated(peer)
    this.safeDispatchEvent('peer:reauthenticated', { detail: peer })
  }

  private onAuthFailed (evt: CustomEvent<AuthFailure>): void {
    const failure = evt.detail
    if (earnsBackoff(failure, this.ownCertificateValid)) {
      const entry = this.blockList.strike(failure.peerId, failure.code)
      this.log('blocking %s for %d ms after auth failure %s', failure.peerId, entry.until - entry.since, failure.code)
    }
    this.safeDispatchEvent('peer:auth-failed', { detail: failure })
  }

  private onAttested (evt: CustomEvent<PeerAttestedEvent>): void {
    const e = evt.detail
    this.peers.setAttestation(e.peerId, e.attested, e.checkedAt)
    this.safeDispatchEvent('peer:attested', { detail: e })
  }

  private onDemoted (evt: CustomEvent<PeerDemotedEvent>): void {
    const e = evt.detail
    this.peers.setAttestation(e.peerId, false, e.checkedAt)
    // Closed by policy: keep it away for a back-off, as after a failed auth.
    if (e.action === 'close') { this.blockList.strike(e.peerId, 'ATTESTATION_FAILED') }
    this.safeDispatchEvent('peer:demoted', { detail: e })
  }

  private onConnectionOpen (evt: CustomEvent<Connection>): void {
    this.peers.connectionOpened(evt.detail.remotePeer.toString(), evt.detail.id)
  }

  private onConnectionClose (evt: CustomEvent<Connection>): void {
    this.peers.connectionClosed(evt.detail.remotePeer.toString(), evt.detail.id)
  }

  /** Dials discovered peers while below the target, a bounded number at a time. */
  private onDiscovery (evt: CustomEvent<PeerInfo>): void {
    const d = this.options.discovery
    const peer = evt.detail.id
    const key = peer.toString()
    if (!d.dialDiscovered || this.libp2p.status !== 'started' || peer.equals(this.peerId)) { return }
    if (this.dialing.has(key) || this.dialing.size >= d.maxDialsInFlight || this.blockList.isBlocked(key)) { return }
    if (this.libp2p.getConnections(peer).length > 0 || this.libp2p.getConnections().length >= d.targetConnections) { return }
    this.dialing.add(key)
    this.libp2p.dial(peer)
      .catch((err: Error) => { this.log('dial of discovered %p failed - %e', peer, err) })
      .finally(() => { this.dialing.delete(key) })
  }

  private async connect (target: PeerId | Multiaddr | string, options: AbortOptions): Promise<Connection> {
    if (this.libp2p.status !== 'started') { throw new MeshNodeError('NOT_STARTED', 'the node is not running') }
    const resolved = typeof target === 'string' ? (target.startsWith('/') ? multiaddr(target) : peerIdFromString(target)) : target
    // libp2p's dial never reuses a limited (relayed) connection: it dials again, which through a
    // relay means a second circuit and a second auth per call. An authenticated one is reused.
    if (isPeerId(resolved)) {
      const open = this.libp2p.getConnections(resolved).filter(c => c.status === 'open' && this.auth.getAuthenticated(c) != null)
      const best = open.find(c => c.limits == null) ?? open[0]
      if (best != null) { return best }
    }
    return this.libp2p.dial(resolved, options)
  }
}
