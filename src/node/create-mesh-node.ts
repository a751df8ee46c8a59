import { X509Certificate } from 'node:crypto'
import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { defaultLogger } from '@libp2p/logger'
import { mdns } from '@libp2p/mdns'
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
import { MeshNodeError } from './errors.ts'
import { prepareGossip } from './gossip-services.ts'
import { loadHostKeyFromDataDir, loadHostKeyFromStore } from './host-key.ts'
import { MeshNode } from './mesh-node.ts'
import { PeerTable } from './peer-table.ts'
import { peerVerifierFromChainVerifier } from './pki-peer-verifier.ts'
import { RevocationState } from './revocation.ts'
import type { MeshNodeConfig, MeshNodeOptions } from './config.ts'
import type { GossipInit } from './gossip-services.ts'
import type { MeshServices } from './mesh-node.ts'
import type { DevicePinStore, EvidenceProver, PeerDemotedEvent } from '../../protocols/attest/index.ts'
import type { AuthStreamOpener, LocalCredentials } from '../../protocols/auth/index.ts'
import type { AttestationPolicy } from '../attestation/policy.ts'
import type { KeyStore } from '../identity/key-store.ts'
import type { PeerCertificateVerifier } from '../pki/peer-verifier.ts'
import type { ComponentLogger, PeerDiscovery, PrivateKey } from '@libp2p/interface'
import type { Selectors, Validators } from '@libp2p/kad-dht'

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
  const logger = init.logger ?? defaultLogger()
  const log = logger.forComponent('dadm-mesh:node')
  const credentials = init.credentials
  if (typeof credentials !== 'function') { checkCredentials(credentials) }
  const verifier = init.verifier ?? (init.chainVerifier != null ? peerVerifierFromChainVerifier(init.chainVerifier) : undefined)
  if (verifier == null) { throw new MeshNodeError('CONFIG_INVALID', 'a mesh node needs a verifier or a chainVerifier') }
  const gossip = await prepareGossip(init, {
    options: options.gossip,
    peers,
    revocation,
    blockList,
    credentials: () => typeof credentials === 'function' ? credentials() : credentials,
    now
  })

  const libp2p = await createLibp2p<MeshServices>({
    privateKey,
    logger,
    start: false,
    addresses: { listen: options.listen, ...(options.announce.length > 0 ? { announce: options.announce } : {}) },
    transports: [
      // The listener takes the auth stream from the muxer itself (protocols/auth/stream-opener.ts).
      ...(options.transports.quic ? [authStreams.transport(quic())] : []),
      ...(options.transports.tcp ? [tcp()] : []),
      ...(init.extraTransports ?? []) as any[]
    ],
    // QUIC brings its own TLS 1.3 and streams; these serve TCP only. No Noise: TLS 1.3 is mandated.
    connectionEncrypters: options.transports.tcp ? [tls()] : [],
    streamMuxers: options.transports.tcp ? [authStreams.muxer(yamux())] : [],
    connectionGater: meshConnectionGater(blockList, preauth),
    connectionManager: {
      maxConnections: options.connectionManager.maxConnections,
      maxIncomingPendingConnections: options.connectionManager.maxIncomingPendingConnections,
      inboundConnectionThreshold: options.connectionManager.inboundConnectionThreshold,
      dialTimeout: options.connectionManager.dialTimeoutMs,
      inboundUpgradeTimeout: options.connectionManager.inboundUpgradeTimeoutMs
    },
    peerDiscovery: discovery(options),
    services: services(options, { ...init, verifier }, revocation, peers, blockList, now, preauth, authStreams, gossip?.factories) as any
  })

  const node: MeshNode = new MeshNode({
    libp2p,
    options,
    peers,
    blockList,
    revocation,
    routingGuard: new RoutingTableGuard(libp2p.services.dht, (p) => peers.isKnownGood(p), log),
    log,
    ...(gossip != null ? { gossip: gossip.attach(libp2p.services, (): MeshNode | undefined => node) } : {})
  })
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
    ping: ping(),
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
  if (options.dht.enabled) {
    map.dht = (components: any) => kadDHT({
      protocol: options.dht.protocol,
      clientMode: options.dht.clientMode,
      kBucketSize: options.dht.kBucketSize,
      peerInfoMapper: authenticatedOnlyMapper((p) => peers.isKnownGood(p), components.peerId),
      ...(init.dhtValidators != null ? { validators: init.dhtValidators } : {}),
      ...(init.dhtSelectors != null ? { selectors: init.dhtSelectors } : {}),
      logPrefix: 'dadm-mesh:kad',
      datastorePrefix: '/dadm-mesh/kad',
      metricsPrefix: 'dadm_mesh_kad'
    })(components)
  }
  return map
}

function discovery (options: MeshNodeOptions): Array<Factory<PeerDiscovery>> {
  const out: Array<Factory<PeerDiscovery>> = []
  if (options.bootstrap.length > 0) { out.push(bootstrap({ list: options.bootstrap })) }
  if (options.mdns.enabled) { out.push(mdns({ interval: options.mdns.intervalMs })) }
  return out
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
