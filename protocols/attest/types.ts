import type { AttestFailureCode } from './errors.ts'
import type { DevicePinStore } from './pins.ts'
import type { EvidenceProver } from './prover.ts'
import type { AttestationPolicy } from '../../src/attestation/policy.ts'
import type { Certificate } from '../../src/pki/certificate.ts'
import type { AuthenticatedPeer } from '../auth/index.ts'
import type { ComponentLogger, Connection, Metrics, Startable, StreamHandler, StreamHandlerOptions, TypedEventTarget } from '@libp2p/interface'

/** Where a peer stands: never checked, passed (with a TPM, or `none` the policy accepts), or failed. */
export type AttestStatus = 'unknown' | 'attested' | 'accepted-none' | 'failed'

/** A peer passed attestation (detail of `peer:attested`). */
export interface PeerAttestedEvent {
  peerId: string
  nodeId: string
  /** True for a verified TPM quote; false for `none` the policy accepts. */
  attested: boolean
  type: 'tpm_quote' | 'none'
  /** Clock time (ms) of the check. */
  checkedAt: number
}

/** A peer failed attestation (detail of `peer:demoted`): it stays connected but demoted, or is closed. */
export interface PeerDemotedEvent {
  peerId: string
  nodeId: string
  code: AttestFailureCode
  action: 'demote' | 'close'
  checkedAt: number
  /** Serial of the certificate the peer authenticated with, when it was still connected. */
  serialHex?: string
}

export interface MeshAttestEvents {
  'peer:attested': CustomEvent<PeerAttestedEvent>
  'peer:demoted': CustomEvent<PeerDemotedEvent>
}

/** One peer's row of attestation state. */
export interface PeerAttestation {
  status: AttestStatus
  /** Clock time (ms) of the last completed check. */
  checkedAt?: number
  /** Why the last check failed. */
  code?: AttestFailureCode
}

export interface MeshAttestInit {
  /**
   * The policy the CA distributed in the enrollment config. With one, this node verifies every
   * authenticated peer after auth and then every interval; without, it only answers challenges.
   */
  policy?: AttestationPolicy
  /** Answers challenges. @default `none` evidence */
  prover?: EvidenceProver
  /** Our identity key's SPKI, read at every challenge (a rotation changes it). Required. */
  identitySpki(): Uint8Array
  /** Where the TPM each node_id must attest with is found. @default in-memory trust on first use */
  pins?: DevicePinStore
  /** The clock, ms since the epoch (nonce age, check times). @default Date.now */
  now?(): number
  /** Re-attestation interval, ms. @default the policy's recheck_interval_seconds (1 h) */
  intervalMs?: number
  /** Deadline of one challenge round trip, ms. @default 15000 */
  roundTripMs?: number
  /** Least time between two answers to one peer, ms. @default 1000 */
  minProverIntervalMs?: number
  /** Delay before retrying after a transient failure, ms. @default 30000 */
  retryMs?: number
  /**
   * Called on every failed attestation (demoted or closed), so the embedder can report it to the
   * CA (`POST /v1/attestation-failures`), whose policy decides whether reports revoke.
   */
  onRevocationRequest?(event: PeerDemotedEvent): void | Promise<void>
  /** Pending deadline after auth, ms. @default the policy's pending_deadline_seconds (10 s) */
  pendingDeadlineMs?: number
}

/** The subset of the auth service the attest service uses. */
export interface AttestAuthSource {
  /** `peer:reauthenticated`: a session moved to the peer's rotated key, which is attested anew. */
  addEventListener(type: 'peer:authenticated' | 'peer:reauthenticated', listener: (evt: CustomEvent<AuthenticatedPeer>) => void): void
  removeEventListener(type: 'peer:authenticated' | 'peer:reauthenticated', listener: (evt: CustomEvent<AuthenticatedPeer>) => void): void
  getAuthenticated(connection: Connection | string): AuthenticatedPeer | undefined
  authenticatedConnections(): Array<{ connection: Connection, peer: AuthenticatedPeer }>
  guard(handler: StreamHandler): StreamHandler
  /**
   * The identity key we presented on a connection. A quote binds the key the verifier knows us
   * by: right after a rotation that may still be the old one on some connections.
   */
  localSpkiOf?(connection: Connection | string): Uint8Array | undefined
}

export interface AttestRegistrar {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
}

export interface MeshAttestComponents {
  registrar: AttestRegistrar
  logger: ComponentLogger
  /** The mesh auth service (libp2p hands services to later services under their name). */
  auth: AttestAuthSource
  metrics?: Metrics
}

/** Post-handshake attestation of peers, and answers to their challenges. */
export interface MeshAttest extends TypedEventTarget<MeshAttestEvents>, Startable {
  readonly protocol: string
  /** True once the peer's last attestation failed (its gossip is ignored, it is not a relay). */
  isDemoted(peerId: string): boolean
  /**
   * True when the peer may be a gossip, relay and bundle member as far as attestation goes:
   * always without a policy; never once failed; under an enforcing policy only after it passed
   * (a pending peer is not a member).
   */
  isMember(peerId: string): boolean
  /**
   * True unless the policy enforces attested origins (`enforce` without `accept_none`) and this
   * origin certificate lacks the CA's attested-device extension: gossip and bundle validators
   * then refuse what it signed (ORIGIN_NOT_ATTESTED). Cached by fingerprint.
   */
  acceptsOrigin(leaf: Certificate | Uint8Array, fingerprint?: string): boolean
  /** The peer's attestation state. */
  statusOf(peerId: string): PeerAttestation
  /** Attests the peer now (over one of its authenticated connections) and returns its new state. */
  attestNow(peerId: string): Promise<PeerAttestation>
}
