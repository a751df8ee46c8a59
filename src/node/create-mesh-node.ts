import { X509Certificate } from 'node:crypto'
import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { defaultLogger } from '@libp2p/logger'
import { mdns } from '@libp2p/mdns'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { createLibp2p } from 'libp2p'
import { meshAttest } from '../../protocols/attest/index.ts'
import { authStreamOpener, meshAuth, PreauthLimiter } from '../../protocols/auth/index.ts'
import { BlockList } from './block-list.ts'
import { resolveOptions } from './config.ts'
import { meshConnectionGater } from './connection-gater.ts'
import { authenticatedOnlyMapper, RoutingTableGuard } from './dht-guard.ts'
import { DhtModeController, withGuardedRegistrar } from './dht-mode.ts'
import { MeshNodeError } from './errors.ts'
import { prepareGossip } from './gossip-services.ts'
import { loadHostKeyFromDataDir, loadHostKeyFromStore } from './host-key.ts'
import { keeperHost } from './keeper-host.ts'
import { MemberKeeper } from './member-keeper.ts'
import { memberRendezvousKey } from './member-rendezvous.ts'
import { libp2pMetricsOptions, registerMeshMetrics } from './mesh-metrics.ts'
import { MeshNode } from './mesh-node.ts'
import { withoutExpandedLoopback } from './nat-addresses.ts'
import { natServices } from './nat-services.ts'
import { ownCertificateValidity } from './own-validity.ts'
import { PeerTable } from './peer-table.ts'
import { peerVerifierFromChainVerifier } from './pki-peer-verifier.ts'
import { directMembership, RelayAdmission } from './relay-gate.ts'
import { memberRelayServer, relayedAddrFilter, relayListenAddrs, relayTransport } from './relay-services.ts'
import { RevocationState } from './revocation.ts'
import type { MeshNodeConfig, MeshNodeOptions } from './config.ts'
import type { GossipInit } from './gossip-services.ts'
import type { MeshServices } from './mesh-node.ts'
import type { DevicePinStore, EvidenceProver, PeerDemotedEvent } from '../../protocols/attest/index.ts'
import type { AuthStreamOpener, LocalCredentials } from '../../protocols/auth/index.ts'
import type { AttestationPolicy } from '../attestation/policy.ts'
import type { KeyStore } from '../identity/key-store.ts'
import type { PeerCertificateVerifier } from '../pki/peer-verifier.ts'
import type { ComponentLogger, Libp2p, PeerDiscovery, PrivateKey, Transport } from '@libp2p/interface'
import type { Selectors, Validators } from '@libp2p/kad-dht'
import type { Registry } from 'prom-client'

/** The mesh's ping protocol, `/dadm-mesh/ping/1.0.0`: libp2p's ping under a name of our own, as the DHT and AutoNAT have. */
export const MESH_PING_PREFIX = 'dadm-mesh'

/** libp2p hands services its full components object; each factory takes the subset it needs. */
type Factory<T> = (components: any) => T

export interface MeshNodeInit extends GossipInit {
  /** Tunables, merged over MESH_NODE_DEFAULTS. */
  options?: MeshNodeConfig
  /** Our chain (leaf first, DER) and identity signer, or a function returning the current ones. */
  credentials: LocalCredentials | (() => LocalCredentials)
  /**
   * Verifies the chains peers present (the PKI, with the node's trust anchors and CRLs).
   *
   * @default `peerVerifierFromChainVerifier(chainVerifier)`: auth on the node's one ChainVerifier
   */
  verifier?: PeerCertificateVerifier
  // From GossipInit (required while options.gossip.enabled, the default):
  // chainVerifier: the node's ONE ChainVerifier (auth when `verifier` is absent, both gossip
  //   validators, CRL installs); store: the process's MeshStore (the anomaly store's sublevels);
  // gossip: { onNewCrl, gossipsub } hooks that are not plain data.
  /** The libp2p host key, if the caller holds it already (tests, embedding agents). */
  privateKey?: PrivateKey
  /** Else: an identity KeyStore that holds it (label `host`, created exportable) ... */
  keyStore?: KeyStore
  /** ... or the enrolled node's directory (`keys/host.key`, encrypted with `passphrase`). */
  dataDir?: string
  passphrase?: string
  /** The clock, ms since the epoch. @default Date.now */
  now?(): number
  /**
   * kad-dht record validators and selectors by key namespace. kad-dht stores only keys whose
   * namespace has a validator (by default only the self-certifying /pk/), so a mesh namespace
   * must bring one, ideally checking a mesh signature over the value.
   */
  dhtValidators?: Validators
  dhtSelectors?: Selectors
  /**
   * Post-handshake attestation. With `policy` (the one the CA sent in the enrollment
   * config) this node verifies its peers; `prover` answers their challenges (a TPM's quotes,
   * `tpmProver`), else the node answers `none`.
   */
  attestation?: {
    policy?: AttestationPolicy
    prover?: EvidenceProver
    /** The TPM each node_id must attest with. @default trust on first use, in memory */
    pins?: DevicePinStore
    /** Called when the policy closes a failed peer (ask the CA to revoke it). */
    onRevocationRequest?(event: PeerDemotedEvent): void | Promise<void>
  }
  /** libp2p's logger; pass `prefixLogger('node-a')` to tell nodes apart in one process. */
  logger?: ComponentLogger
  /** Start at once. @default true */
  start?: boolean
  /**
   * Transports beyond QUIC/TCP (the simulation harness's in-process links). They are upgraded
   * like TCP, with TLS 1.3 + yamux, so `options.transports.tcp` must be on. @default none
   */
  extraTransports?: Array<Factory<unknown>>
  /**
   * Prometheus metrics: libp2p's, gossipsub's and the mesh's, all in this prom-client registry
   * (one per node; see src/node/mesh-metrics.ts). @default none (no metrics are kept)
   */
  metrics?: { registry: Registry }
}

/**
 * Assembles a mesh node on libp2p 3: QUIC (and/or TCP + TLS 1.3 + yamux), the auth protocol on
 * every connection, identify (after auth) and ping, kad-dht under its own protocol, mDNS and a
 * bootstrap list, the back-off gater and the peer table.
 */
export async function createMeshNode (init: MeshNodeInit): Promise<MeshNode> {
  const options = resolveOptions(init.options)
  const now = init.now ?? Date.now
  const privateKey = await hostKey(init)
  const blockList = new BlockList(options.backoff, now)
  const peers = new PeerTable(options.peerTable.maxEntries, now)
  const revocation = new RevocationState()
  // One count of connections waiting for auth, for the gater (refuses before the upgrade) and auth.
  const preauth = new PreauthLimiter(options.auth.preauth, now)
  // One seam for the auth fast paths: it wraps the transports below and counts every connection's path.
  const authStreams = authStreamOpener()
  // Who may reserve on or relay through this node: bound to the node's sessions once it exists.
  const relayAdmission = new RelayAdmission()
  const logger = init.logger ?? defaultLogger()
  const log = logger.forComponent('dadm-mesh:node')
  const credentials = init.credentials
  if (typeof credentials !== 'function') { checkCredentials(credentials) }
  const verifier = init.verifier ?? (init.chainVerifier != null ? peerVerifierFromChainVerifier(init.chainVerifier) : undefined)
  if (verifier == null) { throw new MeshNodeError('CONFIG_INVALID', 'a mesh node needs a verifier or a chainVerifier') }
  // Nobody is dialled while our own certificate is not valid (the gater refuses): every peer would
  // refuse the chain and back us off, and those blocks would outlast our renewal (own-validity.ts).
  const ownCertificateValid = ownCertificateValidity(() => typeof credentials === 'function' ? credentials() : credentials, now)
  const metrics = init.metrics != null ? libp2pMetricsOptions(init.metrics.registry) : undefined
  const gossip = await prepareGossip(metrics == null ? init : { ...init, gossip: { ...init.gossip, gossipsub: { ...metrics.gossipsub, ...init.gossip?.gossipsub } } }, {
    options: options.gossip,
    peers,
    revocation,
    blockList,
    credentials: () => typeof credentials === 'function' ? credentials() : credentials,
    now
  })

  // The address filter asks for connections; it may run before createLibp2p returns.
  const live: { libp2p?: Libp2p } = {}
  const libp2p = await createLibp2p<MeshServices>({
    privateKey,
    logger,
    start: false,
    addresses: {
      listen: [...options.listen, ...relayListenAddrs(options.relay)],
      appendAnnounce: options.announce,
      announceFilter: (addrs) => relayedAddrFilter(withoutExpandedLoopback(addrs), (relay) => inboundRemoteAddrs(live.libp2p, relay))
    },
    transports: [
      // The listener takes the auth stream from the muxer itself (protocols/auth/stream-opener.ts).
      ...(options.transports.quic ? [authStreams.transport(abortableDials(quic()))] : []),
      ...(options.transports.tcp ? [tcp()] : []),
      ...(init.extraTransports ?? []) as any[],
      ...(options.relay.enabled ? [relayTransport(options.relay)] : [])
    ],
    // QUIC brings its own TLS 1.3 and streams; these serve TCP, and relayed connections (end to
    // end between the two members, inside the circuit), also on a QUIC-only node. No Noise: TLS 1.3 is mandated.
    connectionEncrypters: options.transports.tcp || options.relay.enabled ? [tls()] : [],
    streamMuxers: options.transports.tcp || options.relay.enabled ? [authStreams.muxer(yamux())] : [],
    connectionGater: { ...meshConnectionGater(blockList, preauth, ownCertificateValid), ...relayAdmission.hooks() },
    // libp2p pings every open connection every 10 s, also one whose mesh auth has not succeeded:
    // under libp2p's ping name a stranger's libp2p answers and records that we speak it. Under
    // the mesh's own name, which only members serve, it answers "na" and records nothing.
    connectionMonitor: { protocolPrefix: MESH_PING_PREFIX },
    connectionManager: {
      maxConnections: options.connectionManager.maxConnections,
      maxIncomingPendingConnections: options.connectionManager.maxIncomingPendingConnections,
      inboundConnectionThreshold: options.connectionManager.inboundConnectionThreshold,
      dialTimeout: options.connectionManager.dialTimeoutMs,
      inboundUpgradeTimeout: options.connectionManager.inboundUpgradeTimeoutMs,
      // libp2p's reconnect queue keeps one immediate attempt; MemberKeeper does the capped, jittered rest.
      ...(options.keepAlive.enabled ? { reconnectRetries: 0 } : {})
    },
    peerDiscovery: discovery(options),
    ...(metrics != null ? { metrics: metrics.metrics } : {}),
    services: services(options, { ...init, verifier }, revocation, peers, blockList, now, preauth, authStreams, gossip?.factories) as any
  })

  live.libp2p = libp2p
  const keeper = options.keepAlive.enabled
    ? new MemberKeeper({
      host: keeperHost({ libp2p, peers, blockList, dial: async (peer, o) => node.dial(peer, o), rendezvousKey: await memberRendezvousKey(options.dht.protocol), log }),
      // Topping up the member count is dialling what the node heard of: off with discovery dials.
      options: { ...options.keepAlive, targetMembers: options.discovery.dialDiscovered ? options.keepAlive.targetMembers : 0 },
      bootstrap: options.bootstrap,
      now
    })
    : undefined
  const dht = libp2p.services.dht
  const dhtMode = dht != null
    ? new DhtModeController({
      dht,
      mode: options.dht.mode,
      own: () => libp2p.getMultiaddrs(),
      remotes: () => libp2p.services.auth.authenticatedConnections().map(c => c.connection.remoteAddr),
      events: libp2p,
      log
    })
    : undefined
  const node: MeshNode = new MeshNode({
    ...(keeper != null ? { keeper } : {}),
    ...(dhtMode != null ? { dhtMode } : {}),
    libp2p,
    options,
    peers,
    blockList,
    revocation,
    ownCertificateValid,
    routingGuard: new RoutingTableGuard(libp2p.services.dht, (p) => peers.isKnownGood(p), log),
    log,
    ...(gossip != null ? { gossip: gossip.attach(libp2p.services, (): MeshNode | undefined => node) } : {})
  })
  relayAdmission.bind(directMembership({
    authenticatedConnections: () => node.auth.authenticatedConnections(),
    isBlocked: (peerId) => blockList.isBlocked(peerId),
    isDemoted: (peerId) => node.isDemoted(peerId)
  }))
  node.relayAdmission = relayAdmission
  if (init.metrics != null) { registerMeshMetrics(node, { registry: init.metrics.registry, now, ...(init.chainVerifier != null ? { chainVerifier: init.chainVerifier } : {}) }) }
  if (init.start !== false) { await node.start() }
  return node
}

function services (options: MeshNodeOptions, init: MeshNodeInit & { verifier: PeerCertificateVerifier }, revocation: RevocationState, peers: PeerTable, blockList: BlockList, now: () => number, preauth: PreauthLimiter, streams: AuthStreamOpener, gossip?: Record<string, Factory<unknown>>): Record<string, Factory<unknown>> {
  const map: Record<string, Factory<unknown>> = {
    auth: meshAuth({
      credentials: init.credentials,
      verifier: init.verifier,
      now,
      deadlineMs: options.auth.deadlineMs,
      sessionCheckMs: options.auth.sessionCheckMs,
      preauth,
      streams,
      maxConnections: options.connectionManager.maxConnections,
      isRevoked: (identity) => revocation.isRevoked(identity),
      refusePeer: (peerId) => {
        const entry = blockList.isBlocked(peerId) ? blockList.get(peerId) : undefined
        if (entry == null) { return undefined }
        return entry.until === Infinity ? 'REVOKED' : 'PEER_BACKED_OFF'
      }
    }),
    // Run by the node after auth succeeds, never on connection open (see MeshNode.onAuthenticated).
    identify: identify({ runOnConnectionOpen: false }),
    ping: ping({ protocolPrefix: MESH_PING_PREFIX }),
    // After auth (it takes the auth service from the components): challenges peers, answers theirs.
    attest: meshAttest({
      identitySpki: () => (typeof init.credentials === 'function' ? init.credentials() : init.credentials).signer.spki,
      now,
      roundTripMs: options.attest.roundTripMs,
      minProverIntervalMs: options.attest.minProverIntervalMs,
      retryMs: options.attest.retryMs,
      ...(options.attest.intervalMs != null ? { intervalMs: options.attest.intervalMs } : {}),
      ...(init.attestation?.policy != null ? { policy: init.attestation.policy } : {}),
      ...(init.attestation?.prover != null ? { prover: init.attestation.prover } : {}),
      ...(init.attestation?.pins != null ? { pins: init.attestation.pins } : {}),
      ...(init.attestation?.onRevocationRequest != null ? { onRevocationRequest: init.attestation.onRevocationRequest } : {})
    }),
    // After auth and attest (membership reads both): pubsub, anomalyGossip, crlGossip, revoke.
    ...gossip
  }
  // Reachability (always), AutoNAT v2 and DCUtR among members, UPnP: src/node/nat-services.ts.
  Object.assign(map, natServices(options))
  if (options.relay.enabled) {
    // Peers learn our relayed addresses when a reservation lands. Pushed only to peers whose
    // push protocol the peer store holds, which identify records only after auth: members.
    map.identifyPush = identifyPush()
    if (options.relay.server !== 'off') { map.relay = memberRelayServer(options.relay) }
  }
  if (options.dht.enabled) {
    map.dht = (components: any) => kadDHT({
      protocol: options.dht.protocol,
      // Always a boolean: kad-dht's own automatic mode stays off, DhtModeController decides.
      clientMode: options.dht.mode === 'client',
      kBucketSize: options.dht.kBucketSize,
      peerInfoMapper: authenticatedOnlyMapper((p) => peers.isKnownGood(p), components.peerId),
      ...(init.dhtValidators != null ? { validators: init.dhtValidators } : {}),
      ...(init.dhtSelectors != null ? { selectors: init.dhtSelectors } : {}),
      logPrefix: 'dadm-mesh:kad',
      datastorePrefix: '/dadm-mesh/kad',
      metricsPrefix: 'dadm_mesh_kad'
    })(withGuardedRegistrar(components, () => components.auth))
  }
  return map
}

function discovery (options: MeshNodeOptions): Array<Factory<PeerDiscovery>> {
  const out: Array<Factory<PeerDiscovery>> = []
  if (options.bootstrap.length > 0) { out.push(bootstrap({ list: options.bootstrap })) }
  if (options.mdns.enabled) { out.push(mdns({ interval: options.mdns.intervalMs })) }
  return out
}

/**
 * A transport whose dial gives up when its signal aborts. `@chainsafe/libp2p-quic` 2.1 does not
 * pass the signal to its handshake: a dial of an address where nothing answers runs to QUIC's
 * idle timeout (10 s) whatever libp2p's per-address timeout (6 s) or the caller's deadline says,
 * and every later dial of the same peer joins it and waits as long. A handshake that completes
 * after the abort is closed by the transport's own upgrade, which sees the aborted signal.
 */
function abortableDials (factory: Factory<Transport>): Factory<Transport> {
  return (components) => {
    const transport = factory(components)
    const dial = transport.dial.bind(transport)
    transport.dial = async (ma, options) => {
      const signal = options.signal
      const dialling = dial(ma, options)
      if (signal == null) { return dialling }
      dialling.catch(() => {})
      signal.throwIfAborted()
      let onAbort: (() => void) | undefined
      try {
        return await Promise.race([dialling, new Promise<never>((_resolve, reject) => {
          onAbort = () => { reject(signal.reason) }
          signal.addEventListener('abort', onAbort, { once: true })
        })])
      } finally {
        if (onAbort != null) { signal.removeEventListener('abort', onAbort) }
      }
    }
    return transport
  }
}

/** Remote addresses of the open connections `relay` dialled to us (none before libp2p exists, or for a malformed id). */
function inboundRemoteAddrs (libp2p: Libp2p | undefined, relay: string): string[] {
  if (libp2p == null) { return [] }
  try {
    return libp2p.getConnections(peerIdFromString(relay)).filter(c => c.direction === 'inbound').map(c => c.remoteAddr.toString())
  } catch {
    return []
  }
}

async function hostKey (init: MeshNodeInit): Promise<PrivateKey> {
  if (init.privateKey != null) { return init.privateKey }
  if (init.keyStore != null) { return loadHostKeyFromStore(init.keyStore) }
  if (init.dataDir != null && init.passphrase != null) { return loadHostKeyFromDataDir(init.dataDir, init.passphrase) }
  throw new MeshNodeError('CONFIG_INVALID', 'a mesh node needs a stable host key: privateKey, keyStore, or dataDir + passphrase')
}

/** Refuses to start with a signer whose key is not the leaf certificate's: every handshake would fail. */
export function checkCredentials (credentials: LocalCredentials): void {
  if (credentials.chain.length === 0) { throw new MeshNodeError('CREDENTIALS_MISMATCH', 'no certificate chain to present') }
  let spki: Buffer
  try {
    spki = new X509Certificate(credentials.chain[0]).publicKey.export({ type: 'spki', format: 'der' })
  } catch (err: any) {
    throw new MeshNodeError('CREDENTIALS_MISMATCH', 'our leaf certificate does not parse', { cause: err })
  }
  if (!spki.equals(credentials.signer.spki)) {
    throw new MeshNodeError('CREDENTIALS_MISMATCH', 'the identity signer key is not the key of our leaf certificate')
  }
}
