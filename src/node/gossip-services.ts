import { gossipsub } from '@libp2p/gossipsub'
import { AnomalyGossipError, anomalyGossip } from '../../protocols/anomaly-gossip/index.ts'
import { crlGossip, crlRevocationPredicate, crlSource, encodeCrlMessage } from '../../protocols/crl-gossip/index.ts'
import { meshGossipsubOptions } from '../../protocols/mesh-gossipsub/index.ts'
import { meshRevoke } from '../../protocols/revoke/index.ts'
import { AnomalyStore } from '../store/anomaly-store.ts'
import { MeshNodeError } from './errors.ts'
import { currentOriginChain } from './origin-chain.ts'
import type { BlockList } from './block-list.ts'
import type { MeshNodeOptions } from './config.ts'
import type { MeshNode } from './mesh-node.ts'
import type { PeerTable } from './peer-table.ts'
import type { RevocationState } from './revocation.ts'
import type { AnomalyEnvelope, AnomalyGossip, AnomalyPayload, PublishedAnomaly } from '../../protocols/anomaly-gossip/index.ts'
import type { LocalCredentials } from '../../protocols/auth/index.ts'
import type { CrlGossip, CrlVerdict, NewCrlEvent } from '../../protocols/crl-gossip/index.ts'
import type { MeshRevoke, PushOutcome } from '../../protocols/revoke/index.ts'
import type { Certificate } from '../pki/certificate.ts'
import type { ChainVerifier } from '../pki/chain-verifier.ts'
import type { MeshStore } from '../store/mesh-store.ts'
import type { GossipSub, GossipsubOpts } from '@libp2p/gossipsub'

/**
 * How gossip is attached to a mesh node: gossipsub as the service `pubsub` with the
 * mesh options, the anomaly and CRL gossip services, and the revoke push protocol, all sharing the
 * node's ONE ChainVerifier (the one auth checks peers with), so that a CRL installed by any path
 * (fetch, gossip, push) is at once what auth, both validators and the revocation predicate see.
 */

/** libp2p hands services its full components object; each factory takes the subset it needs. */
type Factory<T> = (components: any) => T

/** What `createMeshNode` hands the gossip assembly. */
export interface GossipDeps {
  options: MeshNodeOptions['gossip']
  chainVerifier: ChainVerifier
  anomalies: AnomalyStore
  peers: PeerTable
  revocation: RevocationState
  blockList: BlockList
  credentials(): LocalCredentials
  now(): number
  /** The node, once built: the default enforcement point of a new CRL. */
  node(): MeshNode | undefined
  /** Replaces the default enforcement (`node.applyRevocation`) of a newly installed CRL. */
  onNewCrl?(event: NewCrlEvent): void | Promise<void>
  /** gossipsub options merged over the mesh's (tests, metrics registers). Not structuredClone-safe. */
  gossipsub?: Partial<GossipsubOpts>
}

/** The libp2p services gossip adds, by name (the services read each other as `pubsub` and `crlGossip`). */
export interface GossipServices {
  pubsub: GossipSub
  anomalyGossip: AnomalyGossip
  crlGossip: CrlGossip
  revoke: MeshRevoke
}

/** The service factories for `createLibp2p({ services })`, in dependency order. */
export function gossipServices (deps: GossipDeps): Record<keyof GossipServices, Factory<unknown>> {
  let attest: { isMember(peerId: string): boolean, acceptsOrigin(leaf: Certificate): boolean } | undefined
  // A member is authenticated now, not revoked by any source, not demoted by attestation. Asked
  // per message by both validators and per score refresh by gossipsub, so a revocation drops
  // what the peer still has queued the moment the predicate is installed.
  const isMember = (peerId: string): boolean => {
    if (!deps.peers.isAuthenticated(peerId) || deps.blockList.isBlocked(peerId)) { return false }
    const identity = deps.peers.get(peerId)?.identity
    if (identity == null || deps.revocation.isRevoked(identity)) { return false }
    // Not demoted, and under an enforcing policy attested (a pending peer is no member yet).
    return attest?.isMember(peerId) !== false
  }
  const o = deps.options
  // Read per publish, so a rotated certificate signs the next envelope.
  const origin = currentOriginChain(() => deps.credentials().chain)
  // gossipsub is built first, and its msgIdFn asks the anomaly service (built next) whether an
  // envelope's origin proof holds; until it exists, nothing is proven (junk ids, no squatting).
  let anomaly: AnomalyGossip | undefined
  const originProven = (envelope: AnomalyEnvelope): boolean => anomaly?.originProven(envelope) === true
  const anomalyFactory = anomalyGossip({
    store: deps.anomalies,
    verifier: deps.chainVerifier,
    origin: () => ({ chain: origin(), signer: deps.credentials().signer }),
    isMember,
    originAttested: (leaf) => attest?.acceptsOrigin(leaf) !== false,
    now: deps.now,
    maxSkewMs: o.maxSkewMs,
    defaultTtlMs: o.defaultTtlMs,
    sweepIntervalMs: o.sweepIntervalMs
  })
  return {
    pubsub: (components: any) => {
      attest = components.attest
      return gossipsub(meshGossipsubOptions({
        isMember,
        originProven,
        ...(o.ipColocationFactorWeight != null ? { ipColocationFactorWeight: o.ipColocationFactorWeight } : {}),
        ...(o.fanout != null ? { fanout: o.fanout } : {}),
        ...(deps.gossipsub != null ? { overrides: deps.gossipsub } : {})
      }))(components)
    },
    anomalyGossip: (components: any) => {
      anomaly = anomalyFactory(components)
      return anomaly
    },
    crlGossip: crlGossip({
      holder: deps.chainVerifier,
      isMember,
      now: deps.now,
      maxSkewMs: o.maxSkewMs,
      onNewCrl: deps.onNewCrl ?? (async (e) => {
        await deps.node()?.applyRevocation(crlRevocationPredicate(e.crl, deps.chainVerifier.authorities), { source: crlSource(e.crl) })
      })
    }),
    revoke: meshRevoke({
      deadlineMs: o.pushDeadlineMs,
      onInvalidPush: (peerId) => { deps.blockList.strike(peerId, 'INVALID_CRL_PUSH') }
    })
  }
}

/** What publishing a CRL did: our own acceptance, then the push to each connected peer. */
export interface CrlPublication {
  /** Our own verdict (accept when newer than ours; we then gossip it on `/dadm-mesh/crl/1`). */
  local: CrlVerdict
  /** One outcome per authenticated peer the CRL was pushed to. */
  pushed: PushOutcome[]
}

/** The gossip side of a running node: publish and read anomaly signatures, publish CRLs. */
export class MeshGossip {
  /** Accepted and own anomaly signatures (LevelDB, TTL expiry); its `anomaly` event is for the embedding agent. */
  readonly anomalies: AnomalyStore
  readonly #services: GossipServices

  constructor (services: GossipServices, anomalies: AnomalyStore) {
    this.#services = services
    this.anomalies = anomalies
  }

  get pubsub (): GossipSub { return this.#services.pubsub }
  get anomaly (): AnomalyGossip { return this.#services.anomalyGossip }
  get crl (): CrlGossip { return this.#services.crlGossip }
  get revoke (): MeshRevoke { return this.#services.revoke }

  /**
   * Signs and gossips an anomaly signature as this node (origin = our node_id); it is stored
   * locally too. `ttl` in seconds (like DTN's ttl_sec). Throws AnomalyGossipError (INVALID_TTL,
   * NOT_STARTED, NO_CREDENTIALS) or EnvelopeError (BAD_PAYLOAD, PAYLOAD_TOO_LARGE).
   */
  async publishAnomaly (payload: AnomalyPayload, options: { ttl?: number, idSuffix?: string, timestamp?: number } = {}): Promise<PublishedAnomaly> {
    if (options.ttl != null && (!Number.isSafeInteger(options.ttl) || options.ttl <= 0)) {
      throw new AnomalyGossipError('INVALID_TTL', 'ttl must be a positive whole number of seconds')
    }
    return this.anomaly.publish(payload, { ...(options.ttl != null ? { ttlMs: options.ttl * 1000 } : {}), ...(options.idSuffix != null ? { idSuffix: options.idSuffix } : {}), ...(options.timestamp != null ? { timestamp: options.timestamp } : {}) })
  }

  /**
   * Publishes a CA-signed CRL from this node (the CA's own node, or an operator node): accepts it
   * locally like any CRL (installed, enforced, gossiped on if newer), then pushes it to every
   * authenticated peer on `/dadm-mesh/revoke/1.0.0`, who gossip it on in turn. Pushed also when
   * we held it already (a peer may not); not pushed when our own acceptance rejects it.
   */
  async publishCrl (crlDer: Uint8Array): Promise<CrlPublication> {
    const local = await this.crl.offer(encodeCrlMessage(crlDer), 'local')
    // A CRL our own acceptance rejects (not CA-signed, malformed) would only get us struck.
    const pushed = local.action === 'reject' ? [] : await this.revoke.push(crlDer)
    return { local, pushed }
  }
}

/** The parts of `createMeshNode`'s init gossip needs. */
export interface GossipInit {
  chainVerifier?: ChainVerifier
  store?: MeshStore
  gossip?: Pick<GossipDeps, 'onNewCrl' | 'gossipsub'>
}

/** Gossip prepared for one node: its service factories, then the facade once libp2p exists. */
export interface PreparedGossip {
  factories: Record<keyof GossipServices, Factory<unknown>>
  /** Builds the facade over the created services and points CRL enforcement at `node`. */
  attach(services: Record<string, unknown>, node: () => MeshNode | undefined): MeshGossip
}

/**
 * Opens the anomaly store and prepares the services, or returns undefined when gossip is off.
 * Throws CONFIG_INVALID when gossip is on without the node's ChainVerifier or store.
 */
export async function prepareGossip (init: GossipInit, deps: Omit<GossipDeps, 'chainVerifier' | 'anomalies' | 'node' | 'onNewCrl' | 'gossipsub'>): Promise<PreparedGossip | undefined> {
  if (!deps.options.enabled) { return undefined }
  if (init.chainVerifier == null || init.store == null) {
    throw new MeshNodeError('CONFIG_INVALID', 'gossip needs the node\'s chainVerifier and a store (MeshStore); pass them, or set options.gossip.enabled = false')
  }
  const anomalies = await AnomalyStore.open(init.store)
  let node: () => MeshNode | undefined = () => undefined
  const factories = gossipServices({
    ...deps,
    chainVerifier: init.chainVerifier,
    anomalies,
    node: () => node(),
    ...(init.gossip?.onNewCrl != null ? { onNewCrl: init.gossip.onNewCrl } : {}),
    ...(init.gossip?.gossipsub != null ? { gossipsub: init.gossip.gossipsub } : {})
  })
  return {
    factories,
    attach: (services, n) => {
      node = n
      return new MeshGossip(services as unknown as GossipServices, anomalies)
    }
  }
}
