import { DEFAULT_ATTESTATION_POLICY, policyPcrSelection } from '../attestation/policy.ts'
import { CaBackupError } from '../ca/backup-errors.ts'
import { backupCa } from '../ca/backup.ts'
import { MeshCa, normalizeSerialHex } from '../ca/index.ts'
import { listCertificates, listNodes } from '../ca/inventory.ts'
import { TokenStore } from '../store/token-store.ts'
import { createLock } from '../util/lock.ts'
import { loadAttestationPolicy } from './attestation-policy-file.ts'
import { AttestationFailureReports, attestationReportConfig } from './attestation-reports.ts'
import { softwareAttestationVerifier } from './attestation.ts'
import { createToken, issueAdminCert, issueForOperator, unblockNode } from './ca-admin-ops.ts'
import { enroll } from './ca-enroll.ts'
import { SILENT_EVENTS } from './ca-events.ts'
import { createRotateNowNotice, createTrustBundleNotice, unexpiredNotices } from './ca-notices.ts'
import { mapErrors } from './ca-parts.ts'
import { crlSnapshot, revoke } from './ca-revocation.ts'
import { renew, rotate } from './ca-succession-ops.ts'
import { AcceptedCa, authenticateChain } from './client-chain.ts'
import { DevicePins } from './device-pins.ts'
import { EnrollmentError } from './errors.ts'
import { NonceStore } from './nonce-store.ts'
import { PolicyGate, policyFromCaConfig } from './policy.ts'
import { DEFAULT_RENEWAL_WINDOW_MS } from './renewal.ts'
import { TpmAttestationVerifier } from './tpm-attestation.ts'
import type { AttestationFailureReport, ReportOutcome } from './attestation-reports.ts'
import type { AttestationVerifier, DeviceBinding } from './attestation.ts'
import type { OperatorIssued, OperatorIssueRequest } from './ca-admin-ops.ts'
import type { AdminCertificate, TokenRequest } from './ca-admin-ops.ts'
import type { EnrollRequest } from './ca-enroll.ts'
import type { CaEventSink } from './ca-events.ts'
import type { RotateNowRequest, TrustBundleRequest } from './ca-notices.ts'
import type { CaParts, CrlEvent } from './ca-parts.ts'
import type { RotateRequest } from './ca-succession-ops.ts'
import type { EnrollmentPolicy } from './policy.ts'
import type { MeshConfigBody } from './schemas.ts'
import type { AttestationChallenge, CaAdminOps, ClientIdentity, CreatedToken, CrlSnapshot, EnrollmentCa, IssuedCertificate, NoticeDelivery, RenewRequest, RevokeRequest } from './types.ts'
import type { AttestationPolicy } from '../attestation/policy.ts'
import type { BackupResult } from '../ca/backup.ts'
import type { CaOpenOptions } from '../ca/index.ts'
import type { CertListing, NodeListing } from '../ca/inventory.ts'

export { csrDerFromText } from './ca-parts.ts'

export interface CaServiceOptions {
  /**
   * Evidence checker for enroll and rotate. @default a TpmAttestationVerifier when there is an
   * attestation policy, else softwareAttestationVerifier ("none")
   */
  attestation?: AttestationVerifier
  /** The attestation policy. @default DIR/attestation-policy.json, when present */
  attestationPolicy?: AttestationPolicy
  /** Overrides ca.json's `enrollment` section, field by field. */
  policy?: EnrollmentPolicy
  /** Public URL of `GET /v1/crl` handed to nodes when ca.json has no `crl_url`. */
  crlUrl?: string
  /**
   * During a CA rotation, the CA being retired. Its certificates still authenticate at
   * `/v1/rotate` and renew at `/v1/renew` (checked with its own CRLs and records), so nodes move
   * onto this CA's root; its revoked node_ids stay refused. Opened by the caller, closed with the service.
   */
  previous?: MeshCa
  /** How long after expiry `/v1/renew` still renews a certificate, ms. @default 30 days, or ca.json `enrollment.renewal_window_seconds` */
  renewalWindowMs?: number
  /** Where the structured event log goes (`ca serve`: its pino logger). @default SILENT_EVENTS */
  events?: CaEventSink
}

/**
 * The enrollment service's CA side: MeshCa plus the token store, the policy gate and the
 * attestation hook, behind the two interfaces the HTTP routes (`EnrollmentCa`) and the operator
 * commands (`CaAdminOps`) use. Every failure leaves as an EnrollmentError from the catalogue.
 *
 * The class owns every piece and its lifetime; the operations live by job in ca-enroll.ts,
 * ca-succession-ops.ts (rotate, renew), ca-revocation.ts (revoke, CRL) and ca-admin-ops.ts, each
 * handed the same `CaParts` view of those pieces.
 */
export class CaService implements EnrollmentCa, CaAdminOps {
  readonly ca: MeshCa
  readonly tokens: TokenStore
  readonly gate: PolicyGate
  /** TPMs pinned per node_id at enrollment. */
  readonly devices: DevicePins
  /** Nonces handed out by `GET /v1/enroll/nonce`. */
  readonly nonces: NonceStore
  /** The policy the CA applies and distributes in the enrollment config, if attestation is on. */
  readonly attestationPolicy: AttestationPolicy | undefined
  #crlUrl: string
  // With a node cap, check-then-issue for new nodes must not interleave (two could pass at max-1).
  readonly #capLock = createLock()
  readonly #revocationListeners = new Set<(crl: CrlEvent) => void>()
  /** Nonces of `GET /v1/renew/nonce`. */
  readonly renewNonces = new NonceStore({ ttlMs: 5 * 60_000 })
  readonly #renewalWindowMs: number
  readonly #noticeListeners = new Set<(notice: Uint8Array) => void>()
  #noticePublisher: ((notice: Uint8Array) => Promise<NoticeDelivery>) | undefined
  #meshPeers: (() => string[]) | undefined
  /** `POST /v1/attestation-failures`: members' reports, and revocation when ca.json says so. */
  readonly attestationReports: AttestationFailureReports
  /** What the operation modules share (see ca-parts.ts). */
  readonly #parts: CaParts

  private constructor (ca: MeshCa, gate: PolicyGate, options: CaServiceOptions) {
    this.ca = ca
    this.tokens = new TokenStore(ca.meshStore)
    this.devices = new DevicePins(ca.meshStore, ca.store)
    this.gate = gate
    const policy = options.attestationPolicy
    this.attestationPolicy = policy
    this.nonces = new NonceStore({ ttlMs: (policy ?? DEFAULT_ATTESTATION_POLICY).max_evidence_age_seconds * 1000 })
    this.#crlUrl = ca.config.crl_url ?? options.crlUrl ?? ''
    const windowSeconds = (ca.config as { enrollment?: { renewal_window_seconds?: unknown } }).enrollment?.renewal_window_seconds
    this.#parts = {
      ca,
      accepted: [new AcceptedCa(ca), ...(options.previous != null ? [new AcceptedCa(options.previous)] : [])],
      gate,
      tokens: this.tokens,
      devices: this.devices,
      attestation: options.attestation ?? (policy != null ? new TpmAttestationVerifier({ policy, nonces: this.nonces }) : softwareAttestationVerifier),
      attestationPolicy: policy,
      events: options.events ?? SILENT_EVENTS,
      revocationListeners: this.#revocationListeners
    }
    this.attestationReports = new AttestationFailureReports({
      config: attestationReportConfig(ca.config),
      nodeOfSerial: async (serial) => (await ca.store.getCert(normalizeSerialHex(serial)))?.nodeId,
      isNodeRevoked: async (nodeId) => ca.isNodeRevoked(nodeId),
      revokeNode: async (nodeId, reason, now) => { await this.revoke({ nodeId, reason }, now) },
      audit: async (t, action, fields) => { await ca.store.appendAudit(t, action, fields) }
    })
    this.#renewalWindowMs = options.renewalWindowMs ?? (typeof windowSeconds === 'number' && Number.isSafeInteger(windowSeconds) && windowSeconds >= 0 ? windowSeconds * 1000 : DEFAULT_RENEWAL_WINDOW_MS)
  }

  /** The CA being retired, if this service was opened during a CA rotation. */
  get previous (): MeshCa | undefined {
    return this.#parts.accepted[1]?.ca
  }

  /** Opens the CA in `dir` and wraps it. */
  static async open (opts: CaOpenOptions & CaServiceOptions): Promise<CaService> {
    const ca = await MeshCa.open({ dir: opts.dir, passphrase: opts.passphrase, ...(opts.pkcs11 != null ? { pkcs11: opts.pkcs11 } : {}) })
    try {
      return await CaService.wrap(ca, opts)
    } catch (err) {
      await ca.close()
      throw err
    }
  }

  /** Wraps an open MeshCa (which the service then owns and closes). */
  static async wrap (ca: MeshCa, options: CaServiceOptions = {}): Promise<CaService> {
    const policy = { ...policyFromCaConfig(ca.config), ...options.policy }
    const attestationPolicy = options.attestationPolicy ?? await loadAttestationPolicy(ca.dir)
    return new CaService(ca, await PolicyGate.load(ca, policy), { ...options, ...(attestationPolicy != null ? { attestationPolicy } : {}) })
  }

  /** Sets the CRL URL handed to nodes, unless ca.json names one (the service learns its URL on listen). */
  useCrlUrl (url: string): void {
    if (this.ca.config.crl_url == null) { this.#crlUrl = url }
  }

  async close (): Promise<void> {
    this.#revocationListeners.clear()
    this.#noticeListeners.clear()
    await this.previous?.close()
    await this.ca.close()
  }

  /**
   * Calls `listener` with the CRL each accepted revocation produced (HTTP or admin socket), at
   * once and synchronously: the CA's mesh publisher pushes and gossips it from there. A listener
   * must not throw or block; returns its remover.
   */
  onRevocationCrl (listener: (crl: CrlEvent) => void): () => void {
    this.#revocationListeners.add(listener)
    return () => { this.#revocationListeners.delete(listener) }
  }

  /**
   * The multiaddrs (with /p2p/) of the CA's own mesh node, read per enrollment: handed to nodes
   * as bootstrap peers after ca.json's, so the node that pushes revocations is one they dial.
   */
  useMeshPeers (peers: () => string[]): void {
    this.#meshPeers = peers
  }

  meshConfig (): MeshConfigBody {
    const c = this.ca.config
    const own = this.#meshPeers?.() ?? []
    return {
      bootstrap_peers: [...new Set([...c.bootstrap_peers, ...own])],
      gossip_fanout: c.gossip_fanout,
      crl_url: this.#crlUrl,
      ...(this.attestationPolicy != null ? { attestation_policy: structuredClone(this.attestationPolicy) } : {})
    }
  }

  issueNonce (now: Date): AttestationChallenge {
    const policy = this.attestationPolicy ?? DEFAULT_ATTESTATION_POLICY
    const n = this.nonces.issue(now.getTime())
    return { ...n, pcrBank: policy.pcr_bank, pcrs: policyPcrSelection(policy) }
  }

  /** Operator action: forgets the TPM pinned for `nodeId` (replaced hardware); true when there was one. */
  async forgetDevice (nodeId: string, now: Date): Promise<boolean> {
    return mapErrors(async () => this.devices.forget(nodeId, now))
  }

  /** `POST /v1/enroll` (ca-enroll.ts). */
  async enroll (req: EnrollRequest, now: Date): Promise<IssuedCertificate> {
    return enroll(this.#parts, this.#capLock, req, now)
  }

  /** `POST /v1/rotate` (ca-succession-ops.ts). */
  async rotate (req: RotateRequest, now: Date): Promise<IssuedCertificate> {
    return rotate(this.#parts, req, now)
  }

  /** Revokes a serial or a node_id (ca-revocation.ts) and publishes the new CRL. */
  async revoke (req: RevokeRequest, now: Date): Promise<{ serials: string[] }> {
    return revoke(this.#parts, req, now)
  }

  async crl (now: Date, scope: 'issuing' | 'root' = 'issuing'): Promise<CrlSnapshot> {
    return crlSnapshot(this.#parts, now, scope)
  }

  async crlPem (now: Date, scope: 'issuing' | 'root' = 'issuing'): Promise<string> {
    return mapErrors(async () => (await this.ca.currentCrl(now, scope)).pem)
  }

  /**
   * Checks a client chain (leaf first) against the mesh root with the current CRL(s): the
   * validity window, revocation, and the EKU of the role its SAN claims (node: clientAuth +
   * serverAuth; admin: clientAuth). Any failure is CLIENT_CERT_INVALID.
   */
  async authenticateClient (chainDer: Uint8Array[], now: Date): Promise<ClientIdentity> {
    // Node certificates directly or through a session certificate; this CA's, then the retired one's.
    return authenticateChain(this.#parts.accepted, chainDer, now)
  }

  issueRenewNonce (now: Date): { nonce: Uint8Array, expiresAt: number } {
    const n = this.renewNonces.issue(now.getTime())
    return { nonce: n.nonce, expiresAt: n.expiresAt }
  }

  /** `POST /v1/renew` (ca-succession-ops.ts): a certificate that expired offline, renewed without a token. */
  async renew (req: RenewRequest, now: Date): Promise<IssuedCertificate> {
    return renew(this.#parts, { nonces: this.renewNonces, windowMs: this.#renewalWindowMs }, req, now)
  }

  /** Signs a "rotate now" notice (issuing CA key) and hands it to the notice listeners. */
  async rotateNow (req: RotateNowRequest, now: Date): Promise<Uint8Array> {
    return mapErrors(async () => this.#announce(await createRotateNowNotice(this.ca, req, now)))
  }

  /** Signs a trust bundle (root key) and hands it to the notice listeners. */
  async trustBundle (req: TrustBundleRequest, now: Date): Promise<Uint8Array> {
    return mapErrors(async () => this.#announce(await createTrustBundleNotice(this.ca, req, now)))
  }

  /** Every unexpired notice (base64), oldest first, for nodes that poll. */
  async latestNotices (now: Date = new Date()): Promise<string[]> {
    return unexpiredNotices(this.ca, now)
  }

  /**
   * The CA's mesh node, which pushes each notice the operator signs and reports how that went;
   * returns its remover. Without one, notices wait for the nodes' poll.
   */
  useNoticePublisher (publisher: (notice: Uint8Array) => Promise<NoticeDelivery>): () => void {
    this.#noticePublisher = publisher
    return () => { if (this.#noticePublisher === publisher) { this.#noticePublisher = undefined } }
  }

  async deliverNotice (notice: Uint8Array): Promise<NoticeDelivery> {
    return this.#noticePublisher != null ? this.#noticePublisher(notice) : { via: 'poll' }
  }

  /** Calls `listener` with every notice this service signs; returns its remover. */
  onNotice (listener: (notice: Uint8Array) => void): () => void {
    this.#noticeListeners.add(listener)
    return () => { this.#noticeListeners.delete(listener) }
  }

  #announce (notice: Uint8Array): Uint8Array {
    for (const listener of this.#noticeListeners) {
      try { listener(notice) } catch {}
    }
    return notice
  }

  async createToken (req: TokenRequest, now: Date): Promise<CreatedToken> {
    return createToken(this.#parts, req, now)
  }

  /** `ca issue` through the admin socket (ca-admin-ops.ts). */
  async issueForOperator (req: OperatorIssueRequest, now: Date): Promise<OperatorIssued> {
    return issueForOperator(this.#parts, req, now)
  }

  async issueAdminCert (req: { csrPem: string, name: string, validitySeconds?: number }, now: Date): Promise<AdminCertificate> {
    return issueAdminCert(this.#parts, req, now)
  }

  /** A member reports a peer's failed attestation (see attestation-reports.ts). */
  async reportAttestationFailure (report: AttestationFailureReport, now: Date): Promise<ReportOutcome> {
    return mapErrors(async () => this.attestationReports.report(report, now))
  }

  async clearNodeRevocation (nodeId: string, now: Date): Promise<boolean> {
    return mapErrors(async () => this.ca.clearNodeRevocation(nodeId, now))
  }

  /** `ca unblock` (ca-admin-ops.ts): the node_id may enroll again with a fresh token. */
  async unblockNode (req: { nodeId: string, by?: string }, now: Date): Promise<void> {
    await unblockNode(this.#parts, req, now)
  }

  /** The TPM pinned for `nodeId`, as the attest protocol and operators see it. */
  async deviceOf (nodeId: string): Promise<DeviceBinding | undefined> {
    return this.devices.binding(nodeId)
  }

  /** `ca list-certs` (src/ca/inventory.ts): issued certificates and what became of them. */
  async listCerts (req: { nodeId?: string }, now: Date): Promise<CertListing> {
    return listCertificates(this.ca.store, this.ca.meshStore, { ...req, now })
  }

  /** `ca list-nodes`: every node_id with its standing. */
  async listNodes (now: Date): Promise<NodeListing> {
    return listNodes(this.ca.store, this.ca.meshStore, { now })
  }

  /** `ca backup` while the service holds the store (src/ca/backup.ts): a snapshot copy into `out`. */
  async backup (req: { out: string }, now: Date): Promise<BackupResult> {
    try {
      return await backupCa({ dir: this.ca.dir, store: this.ca.meshStore, out: req.out, now })
    } catch (err: any) {
      if (err instanceof CaBackupError && err.code !== 'NOT_A_CA') { throw new EnrollmentError(err.code === 'BACKUP_TARGET_NOT_EMPTY' || err.code === 'BACKUP_TOO_LARGE' || err.code === 'UNSUPPORTED_FILE' ? err.code : 'INTERNAL', { cause: err }) }
      // The service writes as its own user: a directory it may not create is the operator's to fix.
      if (err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'ENOENT' || err.code === 'EROFS' || err.code === 'ENOSPC') { throw new EnrollmentError('BACKUP_TARGET_UNWRITABLE', { cause: err }) }
      throw err
    }
  }
}
