import type { AuthErrorCode } from './errors.ts'
import type { AuthGate, GuardRegistrar } from './guard.ts'
import type { PreauthLimiter, PreauthLimits, PreauthRefusal } from './preauth-limits.ts'
import type { AuthStreamOpener, AuthStreamPaths } from './stream-opener.ts'
import type { IdentitySigner, PeerCertificateVerifier, PeerIdentity, RevocationPredicate } from '../../src/pki/peer-verifier.ts'
import type { AbortOptions, ComponentLogger, Connection, Libp2pEvents, Metrics, PeerId, Startable, StreamHandler, TypedEventTarget } from '@libp2p/interface'

export type { IdentitySigner, RevocationPredicate } from '../../src/pki/peer-verifier.ts'

/** What this node presents: its chain (leaf first, DER) and the signer for the leaf's key. */
export interface LocalCredentials {
  chain: Uint8Array[]
  signer: IdentitySigner
}


/** Transport family of a connection, from its remote multiaddr; `relay`: a circuit through a member relay (TLS 1.3 + yamux end to end inside it). */
export type TransportName = 'quic' | 'tcp' | 'relay' | 'other'

/** A connection whose remote peer passed mutual authentication. */
export interface AuthenticatedPeer extends PeerIdentity {
  connectionId: string
  direction: 'inbound' | 'outbound'
  remoteAddr: string
  transport: TransportName
  /** Clock time (ms) at which the exchange succeeded. */
  authenticatedAt: number
  /** How long the exchange took, from connection open. */
  elapsedMs: number
}

/** Why a connection failed authentication, as both the event and the log carry it. */
export interface AuthFailure {
  peerId: string
  connectionId: string
  direction: 'inbound' | 'outbound'
  remoteAddr: string
  code: AuthErrorCode
  chainCode?: string
  remoteCode?: AuthErrorCode
  elapsedMs: number
}

/** A live connection's peer presented a new certificate (it rotated) and passed re-auth. */
export interface ReauthenticatedPeer extends AuthenticatedPeer {
  /** Serial of the certificate the session rested on before. */
  previousSerialHex: string
}

/** An authenticated session ended by the auth service itself (its connection is closed). */
export interface SessionEnded {
  peerId: string
  nodeId: string
  connectionId: string
  serialHex: string
  /** SESSION_EXPIRED, or the verifier's refusal when the trust changed (CHAIN_INVALID, REVOKED). */
  code: AuthErrorCode
  chainCode?: string
}

export interface MeshAuthEvents {
  'peer:authenticated': CustomEvent<AuthenticatedPeer>
  'peer:auth-failed': CustomEvent<AuthFailure>
  /** A session rests on the peer's new certificate from here on (it rotated and re-authenticated). */
  'peer:reauthenticated': CustomEvent<ReauthenticatedPeer>
  /** A session ended: its certificate expired, or no longer verifies (trust or revocation change). */
  'session:ended': CustomEvent<SessionEnded>
  /**
   * A connection waiting for auth was turned away or closed by the caps on such connections
   * (SOURCE_BACKED_OFF, SOURCE_LIMIT, PREAUTH_PRUNED). Not a failed auth of its PeerId.
   */
  'preauth:refused': CustomEvent<PreauthRefused>
}

/** A connection the pre-auth caps turned away, and how many were waiting after. */
export interface PreauthRefused extends AuthFailure {
  pendingNow: number
}

export interface MeshAuthInit {
  /** Our chain and signer; a function is read once per handshake, so a rotated certificate is used at once. Required. */
  credentials: LocalCredentials | (() => LocalCredentials)
  /** Verifies the chains peers present. Required. */
  verifier: PeerCertificateVerifier
  /** The node's current revocation state, consulted after the chain check. @default nothing is revoked */
  isRevoked?: RevocationPredicate
  /**
   * Whether we refuse the peer by its PeerId alone (the node's block list: revoked for good, or
   * backed off), asked as responder before our chain goes out. libp2p's gater refuses such a
   * connection only once it is upgraded, by which time the fast path has begun answering, and a
   * revoked peer must neither see our chain nor take our proof for acceptance.
   * @default nobody is refused by PeerId
   */
  refusePeer?(peerId: string): 'REVOKED' | 'PEER_BACKED_OFF' | undefined
  /** Whole-exchange deadline in ms. @default 5000 */
  deadlineMs?: number
  /** The clock, ms since the epoch (validity windows, replay cache). @default Date.now */
  now?(): number
  /** Wrap every other registered protocol with `requireAuthenticated` once services have started. @default true */
  guardProtocols?: boolean
  /** Protocols left open to unauthenticated peers (besides auth itself). @default [] */
  exemptProtocols?: string[]
  /** Source of our fresh nonces (tests inject a fixed one to stage replays). @default 32 random bytes */
  nonce?(): Uint8Array
  /** @default 16384 */
  replayCacheSize?: number
  /** @default 24 h */
  replayCacheTtlMs?: number
  /** Period of the session watch (expiry, refresh), ms of real time; 0 turns it off. @default SESSION_CHECK_MS */
  sessionCheckMs?: number
  /** Least real time between two re-auths a peer starts on one connection, ms. @default REAUTH_MIN_INTERVAL_MS */
  reauthMinIntervalMs?: number
  /** Lead of the watch's re-auth before a peer certificate expires, as a fraction of its lifetime. @default REAUTH_LEAD_FRACTION */
  reauthLeadFraction?: number
  /**
   * Caps and back-off of connections waiting for auth, or the limiter itself (the node shares
   * one with its connection gater, which refuses early). @default PREAUTH_DEFAULTS
   */
  preauth?: PreauthLimiter | Partial<PreauthLimits>
  /** libp2p's connection cap, to keep a slot free for members. @default the connection manager's */
  maxConnections?: number
  /**
   * Where the auth stream comes from on both sides: the opener whose `transport()` and `muxer()`
   * wrapped this node's transports, so that its connections take the fast paths and any that
   * cannot is reported. @default an opener of its own (bare dialer streams where the muxer is in
   * reach; the listener through libp2p's registrar)
   */
  streams?: AuthStreamOpener
}

/** The registrar operations the service uses (a subset of libp2p's internal Registrar). */
export interface AuthRegistrar extends GuardRegistrar {
  unhandle(protocol: string, options?: AbortOptions): Promise<void>
}

export interface MeshAuthComponents {
  peerId: PeerId
  registrar: AuthRegistrar
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  connectionManager: { getConnections(): Connection[], getMaxConnections?(): number }
  metrics?: Metrics
  /** Records the auth protocol for peers whose auth stream took a fast path past libp2p. */
  peerStore?: { merge(peerId: PeerId, data: { protocols: string[] }): Promise<unknown> }
}

/** Mutual authentication of every connection, and the gate other protocols wait on. */
export interface MeshAuth extends TypedEventTarget<MeshAuthEvents>, AuthGate, Startable {
  readonly protocol: string
  /** The verdict for a connection, if it has one and it was a success. */
  getAuthenticated(connection: Connection | string): AuthenticatedPeer | undefined
  /** The connection of a verdict's `connectionId`, while auth tracks it (no PeerId parsing). */
  connectionOf(connectionId: string): Connection | undefined
  /** Every open connection that passed auth, with who is behind it. */
  authenticatedConnections(): Array<{ connection: Connection, peer: AuthenticatedPeer }>
  /** `requireAuthenticated` bound to this service. */
  guard(handler: StreamHandler): StreamHandler
  /** Wraps every handled protocol that is not yet guarded (call after registering handlers late). */
  guardAll(): Promise<string[]>
  /**
   * Re-runs the exchange on a live authenticated connection (`/dadm-mesh/reauth/1.0.0`), with our
   * current credentials: both sides present their current certificates and the session rests on
   * them from then on. A failure changes nothing (the session keeps the certificate it had, until
   * that expires); throws AuthError.
   */
  reauthenticate(connection: Connection, options?: AbortOptions): Promise<AuthenticatedPeer>
  /** `reauthenticate` on every authenticated connection, a few at a time; counts the outcomes. */
  reauthenticateAll(options?: AbortOptions & { concurrency?: number }): Promise<{ ok: number, failed: number }>
  /**
   * Checks every live session's certificate chain again with the verifier (after the trust
   * anchors or the CRLs changed) and closes the connections whose chain it now refuses.
   */
  revalidateSessions(): Promise<{ checked: number, closed: number }>
  /** SPKI of the identity key we presented on `connection` (what attestation must bind). */
  localSpkiOf(connection: Connection | string): Uint8Array | undefined
  /** Connections waiting for auth at this moment (all sources), and from `remoteAddr`'s source. */
  pendingAuth(remoteAddr?: string): { total: number, fromSource: number, refused: Record<PreauthRefusal, number> }
  /** Which path each connection's auth stream took, per side, and the libp2p internals found missing (stream-opener.ts). */
  streamPaths(): AuthStreamPaths
}
