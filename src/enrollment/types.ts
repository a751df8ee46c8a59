import type { RateLimitsConfig } from './rate-buckets.ts'
import type { AttestationEvidence, MeshConfigBody } from './schemas.ts'
import type { BackupResult } from '../ca/backup.ts'
import type { CertListing, NodeListing } from '../ca/inventory.ts'
import type { RateLimit } from '../http/rate-limit.ts'
import type { RevocationReason } from '../pki/revocation-reasons.ts'

/** What a client certificate proved, after chain, validity and revocation checks. */
export interface ClientIdentity {
  role: 'node' | 'admin' | 'server'
  /** node_id for node certificates, admin name for admin certificates. */
  subject: string
  nodeId?: string
  serialHex: string
  notAfter: number
}

/** A certificate the CA just issued, in the forms the API returns. */
export interface IssuedCertificate {
  certificatePem: string
  /** Issuing chain, issuer first, root last. */
  chainPem: string
  /** The mesh root(s), the trust anchors to pin. */
  caCertPem: string
  nodeId: string
  serialHex: string
  notBefore: number
  notAfter: number
}

/** The current CRL, with a stable tag for HTTP caching. */
export interface CrlSnapshot {
  der: Uint8Array
  /** Strong validator for the DER bytes (the PEM form appends ".pem"). */
  etag: string
  crlNumber: number
  thisUpdate: number
  nextUpdate: number
}

/**
 * The CA operations the HTTP routes and the admin socket call. `CaService` implements it over
 * MeshCa and the token store; tests may stub it.
 */
export interface EnrollmentCa {
  enroll(req: { token: string, csrPem: string, nodeId?: string, attestation?: AttestationEvidence }, now: Date): Promise<IssuedCertificate>
  rotate(req: { client: ClientIdentity, csrPem: string, currentSerial: string, attestation?: AttestationEvidence }, now: Date): Promise<IssuedCertificate>
  revoke(req: RevokeRequest, now: Date): Promise<{ serials: string[] }>
  /** `POST /v1/attestation-failures`: a member reports a peer's failed attestation (attestation-reports.ts). */
  reportAttestationFailure?(report: { reporterNodeId: string, reporterSerial: string, nodeId: string, serialHex: string, code: string }, now: Date): Promise<{ counted: boolean, reporters: number, revoked: boolean }>
  /** The current CRL of the issuing CA, or (`root`) the root's CRL over revoked intermediates. */
  crl(now: Date, scope?: 'issuing' | 'root'): Promise<CrlSnapshot>
  /** Verifies a presented client chain (leaf first) against the mesh roots and the current CRL. */
  authenticateClient(chainDer: Uint8Array[], now: Date): Promise<ClientIdentity>
  /** The node-facing configuration from the CA's config file (and its attestation policy). */
  meshConfig(): MeshConfigBody
  /** A single-use attestation nonce and the PCR selection the policy wants quoted. */
  issueNonce(now: Date): AttestationChallenge
  /** A single-use nonce for `renew` (a node back from a long time offline), so a proof cannot be replayed. */
  issueRenewNonce?(now: Date): { nonce: Uint8Array, expiresAt: number }
  /**
   * Renews a certificate that expired (or is about to) without mutual TLS: the old key signs the
   * CA's nonce and the new CSR; node_id not revoked; within the renewal-after-expiry window.
   */
  renew?(req: RenewRequest, now: Date): Promise<IssuedCertificate>
}

/** A revocation: exactly one of `serialHex` and `nodeId`. */
export interface RevokeRequest {
  serialHex?: string
  nodeId?: string
  reason?: RevocationReason
  /** Block a node_id the CA never issued to (else UNKNOWN_NODE_ID). */
  blockUnknown?: boolean
  /** Who asks, for the event log: `admin:NAME` (HTTP, admin certificate) or `local-admin-socket`. */
  by?: string
}

/** What `POST /v1/renew` hands the CA. */
export interface RenewRequest {
  /** The old certificate first, then its issuing chain, PEM. */
  certificatePem: string
  csrPem: string
  nonce: Uint8Array
  /** Signature by the old identity key over `renewalTranscript(nonce, csrDer)`. */
  proof: Uint8Array
  attestation?: AttestationEvidence
}

/** What `GET /v1/enroll/nonce` hands out. */
export interface AttestationChallenge {
  nonce: Uint8Array
  issuedAt: number
  expiresAt: number
  pcrBank: string
  pcrs: number[]
}

/** A freshly created enrollment token; `token` is shown once and stored only as a hash. */
export interface CreatedToken {
  token: string
  /** First 16 hex digits of the token hash: safe to log and to name the token later. */
  tokenId: string
  nodeId?: string
  expiresAt: number
  uses: number
  /** Minted as a replacement for `nodeId`. */
  replace?: boolean
  /** The roles its enrollment's certificate gets, sorted (empty when none). */
  roles: string[]
}

/**
 * Operator operations: what `ca token`, `ca revoke`, `ca crl`, `ca admin-cert` need. The CLI runs
 * them on a `CaService` it opened itself, or, while `ca serve` holds the LevelDB, through the
 * service's admin socket; both sides implement this same interface.
 */
export interface CaAdminOps {
  /** `replace` (with `nodeId`): the token's enrollment supersedes the node_id's live certificates. */
  createToken(req: { nodeId?: string, ttlMs: number, uses: number, replace?: boolean, roles?: string[] }, now: Date): Promise<CreatedToken>
  revoke: EnrollmentCa['revoke']
  /** The current CRL as PEM (built if the stored one is stale): the issuing CA's, or the root's. */
  crlPem(now: Date, scope?: 'issuing' | 'root'): Promise<string>
  /** Signs an admin-role certificate for `name` from a CSR whose key the caller holds. */
  issueAdminCert(req: { csrPem: string, name: string, validitySeconds?: number }, now: Date): Promise<{ certificatePem: string, chainPem: string, caCertPem: string, serialHex: string, notAfter: number }>
  /** Lifts the block on a revoked node_id, so it may enroll again with a fresh token. */
  clearNodeRevocation(nodeId: string, now: Date): Promise<boolean>
  /** `ca unblock`: lifts a node_id's block; INVALID_NODE_ID or NODE_NOT_BLOCKED when there is none. */
  unblockNode(req: { nodeId: string, by?: string }, now: Date): Promise<void>
  /** Signs a "rotate now" notice (all nodes, or `targets`); a running service also publishes it on the mesh. */
  rotateNow?(req: { targets?: string[], ttlMs?: number }, now: Date): Promise<Uint8Array>
  /** Signs a trust bundle with the root key (CA rotation); a running service also publishes it. */
  trustBundle?(req: { rootsPem: string, casPem?: string, ttlMs?: number }, now: Date): Promise<Uint8Array>
  /** `ca issue`: a certificate from a CSR, any profile (the service holds the key while it runs). */
  issueForOperator?(req: { csrPem: string, profile: 'node' | 'admin' | 'server', validitySeconds?: number, nodeId?: string, dnsNames?: string[], ipAddresses?: string[] }, now: Date): Promise<{ pem: string, serialHex: string, subject: string, notAfter: number }>
  /** Hands a signed notice to the service's mesh node, if one runs, and says what became of it. */
  deliverNotice?(notice: Uint8Array): Promise<NoticeDelivery>
  /** `ca list-certs`: issued certificates (all, or one node_id's) and what became of them. */
  listCerts?(req: { nodeId?: string }, now: Date): Promise<CertListing>
  /** `ca list-nodes`: every node_id the CA knows and its standing. */
  listNodes?(now: Date): Promise<NodeListing>
  /** `ca backup`: a consistent copy of the CA directory into `out` (absolute, absent or empty). */
  backup?(req: { out: string }, now: Date): Promise<BackupResult>
}

/**
 * What became of a notice: pushed by the CA's mesh node (`peers` authenticated peers tried,
 * `accepted` of them took it, `gossiped` also published on the notice topic), or only stored
 * for the nodes' poll of `GET /v1/notices` (no mesh node runs: `ca serve --no-mesh`, or no
 * service runs at all). `refused`: the CA's own node would not accept it (its code).
 */
export type NoticeDelivery =
  | { via: 'mesh', peers: number, accepted: number, gossiped: boolean }
  | { via: 'poll' }
  | { via: 'refused', code: string }

/** Limits of one rate limiter: at most `max` requests per `windowMs`. */
export type { RateLimit }

/** HTTP-level settings of the enrollment server. */
export interface EnrollmentServerConfig {
  /** Server certificate chain (leaf first) and key, PEM. */
  tls: { certPem: string, keyPem: string }
  /** Roots the TLS layer names in its CertificateRequest; the route hook does the real check. */
  clientCaPem: string
  /** The rate-limit buckets (rate-buckets.ts), field by field. @default RATE_LIMIT_DEFAULTS */
  rateLimits?: RateLimitsConfig
  /** Coarse single knob: per source address, in each public bucket unless `rateLimits` sets it. */
  perAddressLimit?: RateLimit
  /** Coarse single knob: shared by all clients, in each public bucket unless `rateLimits` sets it. */
  globalLimit?: RateLimit
  /** Largest request body in bytes. @default 65536 */
  bodyLimit?: number
  /** Deadline for a whole request, ms. @default 30000 */
  requestTimeoutMs?: number
}

/**
 * Defaults (the rate limits have theirs in rate-buckets.ts). 64 KiB is 4x the largest CSR we
 * accept plus room for a TPM quote. 30 s bounds slow-loris style clients.
 */
export const SERVER_DEFAULTS = {
  bodyLimit: 64 * 1024,
  requestTimeoutMs: 30_000
} as const
