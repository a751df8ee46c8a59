import { createHash } from 'node:crypto'
import { attestationPolicyId, DEFAULT_ATTESTATION_POLICY, policyPcrSelection } from '../attestation/policy.ts'
import { checkNodeCsr } from '../pki/ca/csr-policy.ts'
import { MeshCa, parseCsr, normalizeSerialHex } from '../pki/ca/index.ts'
import { isValidNodeId } from '../pki/node-identity.ts'
import { derToPem, pemToDer } from '../pki/pem.ts'
import { StoreError } from '../store/errors.ts'
import { isTokenFormat, TokenError, tokenIdOf, TokenStore } from '../store/token-store.ts'
import { createLock } from '../util/lock.ts'
import { loadAttestationPolicy } from './attestation-policy-file.ts'
import { AttestationFailureReports, attestationReportConfig } from './attestation-reports.ts'
import { softwareAttestationVerifier } from './attestation.ts'
import { SILENT_EVENTS } from './ca-events.ts'
import { createRotateNowNotice, createTrustBundleNotice } from './ca-notices.ts'
import { AcceptedCa, authenticateChain } from './client-chain.ts'
import { DevicePins } from './device-pins.ts'
import { toEnrollmentError } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import { NonceStore } from './nonce-store.ts'
import { PolicyGate, policyFromCaConfig } from './policy.ts'
import { checkRenewal, DEFAULT_RENEWAL_WINDOW_MS } from './renewal.ts'
import { checkSuccession } from './succession.ts'
import { TpmAttestationVerifier } from './tpm-attestation.ts'
import type { AttestationFailureReport, ReportOutcome } from './attestation-reports.ts'
import type { AttestationVerifier, DeviceBinding } from './attestation.ts'
import type { CaEventSink } from './ca-events.ts'
import type { RotateNowRequest, TrustBundleRequest } from './ca-notices.ts'
import type { EnrollmentPolicy } from './policy.ts'
import type { AttestationEvidence, MeshConfigBody } from './schemas.ts'
import type { AttestationChallenge, CaAdminOps, ClientIdentity, CreatedToken, CrlSnapshot, EnrollmentCa, IssuedCertificate, RenewRequest, RevokeRequest } from './types.ts'
import type { AttestationPolicy } from '../attestation/policy.ts'
import type { AttestedDevice } from '../pki/attested-extension.ts'
import type { CaOpenOptions, IssuedCert, IssueRequest } from '../pki/ca/index.ts'
import type { IssuedCertRecord, SupersessionVia } from '../store/ca-store.ts'

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
   * CA rotation (issue 9): the CA being retired. Its certificates still authenticate at
   * `/v1/rotate` and renew at `/v1/renew` (checked with its own CRLs and records), so nodes move
   * onto this CA's root; its revoked node_ids stay refused. Opened by the caller, closed with the service.
   */
  previous?: MeshCa
  /** How long after expiry `/v1/renew` still renews a certificate, ms. @default 30 days, or ca.json `enrollment.renewal_window_seconds` */
  renewalWindowMs?: number
  /** Where the structured event log goes (`ca serve`: its pino logger). @default SILENT_EVENTS */
  events?: CaEventSink
}

/** CSR text: one PEM CERTIFICATE REQUEST block, or the DER in (canonical) base64 (seed §7.1). */
export function csrDerFromText (text: string): Uint8Array {
  if (text.trimStart().startsWith('-----BEGIN')) { return pemToDer(text, 'CERTIFICATE REQUEST') }
  const compact = text.replace(/\s+/g, '')
  const der = Buffer.from(compact, 'base64')
  if (compact.length === 0 || der.toString('base64') !== compact) { throw new EnrollmentError('INVALID_CSR') }
  return new Uint8Array(der)
}

/**
 * The enrollment service's CA side: MeshCa plus the token store, the policy gate and the
 * attestation hook, behind the two interfaces the HTTP routes (`EnrollmentCa`) and the operator
 * commands (`CaAdminOps`) use. Every failure leaves as an EnrollmentError from the catalogue.
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
  readonly #attestation: AttestationVerifier
  #crlUrl: string
  // With a node cap, check-then-issue for new nodes must not interleave (two could pass at max-1).
  readonly #capLock = createLock()
  readonly #revocationListeners = new Set<(crl: { der: Uint8Array, crlNumber: number }) => void>()
  /** CAs whose client certificates are accepted: this one, then the one being retired. */
  readonly #accepted: AcceptedCa[]
  /** Nonces of `GET /v1/renew/nonce`. */
  readonly renewNonces = new NonceStore({ ttlMs: 5 * 60_000 })
  readonly #renewalWindowMs: number
  readonly #noticeListeners = new Set<(notice: Uint8Array) => void>()
  /** `POST /v1/attestation-failures`: members' reports, and revocation when ca.json says so. */
  readonly attestationReports: AttestationFailureReports
  /** The structured event log (see ca-events.ts). */
  readonly #events: CaEventSink

  private constructor (ca: MeshCa, gate: PolicyGate, options: CaServiceOptions) {
    this.ca = ca
    this.tokens = new TokenStore(ca.meshStore)
    this.devices = new DevicePins(ca.meshStore, ca.store)
    this.gate = gate
    const policy = options.attestationPolicy
    this.attestationPolicy = policy
    this.nonces = new NonceStore({ ttlMs: (policy ?? DEFAULT_ATTESTATION_POLICY).max_evidence_age_seconds * 1000 })
    this.#attestation = options.attestation ?? (policy != null ? new TpmAttestationVerifier({ policy, nonces: this.nonces }) : softwareAttestationVerifier)
    this.#crlUrl = ca.config.crl_url ?? options.crlUrl ?? ''
    this.#accepted = [new AcceptedCa(ca), ...(options.previous != null ? [new AcceptedCa(options.previous)] : [])]
    const windowSeconds = (ca.config as { enrollment?: { renewal_window_seconds?: unknown } }).enrollment?.renewal_window_seconds
    this.#events = options.events ?? SILENT_EVENTS
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
    return this.#accepted[1]?.ca
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
  onRevocationCrl (listener: (crl: { der: Uint8Array, crlNumber: number }) => void): () => void {
    this.#revocationListeners.add(listener)
    return () => { this.#revocationListeners.delete(listener) }
  }

  meshConfig (): MeshConfigBody {
    const c = this.ca.config
    return {
      bootstrap_peers: [...c.bootstrap_peers],
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
    try {
      return await this.devices.forget(nodeId, now)
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  async enroll (req: { token: string, csrPem: string, nodeId?: string, attestation?: AttestationEvidence }, now: Date): Promise<IssuedCertificate> {
    // What the event log names, learnt as the checks go: never the token, only its id.
    const seen: { nodeId: string | null, tokenId: string | null } = {
      nodeId: req.nodeId != null && isValidNodeId(req.nodeId) ? req.nodeId : null,
      tokenId: isTokenFormat(req.token) ? tokenIdOf(req.token) : null
    }
    try {
      // 1. The token first: without a live one, a caller learns nothing about our CSR checks.
      const token = await this.tokens.inspect(req.token, now.getTime())
      // 2. The CSR: strict parse, self-signature, node profile (exactly the node and peer URIs).
      const csr = parseCsr(csrDerFromText(req.csrPem))
      const { nodeId } = checkNodeCsr(csr)
      seen.nodeId = nodeId
      if (req.nodeId != null && req.nodeId !== nodeId) { throw new EnrollmentError('NODE_ID_CONFLICT') }
      if (token.nodeId != null && token.nodeId !== nodeId) { throw new EnrollmentError('TOKEN_NODE_MISMATCH') }
      // One live identity per node_id: only a replacement token (minted by the operator for this
      // node_id) may take a node_id someone holds, and it cuts the holder off; a node that holds
      // it already proves so at /v1/rotate or /v1/renew, never here.
      const live = token.replace === true && token.nodeId === nodeId ? 'supersede' : 'refuse'
      const run = async (): Promise<IssuedCertificate> => {
        // 3. Policy, the holder check and attestation, still before the token is spent.
        await this.gate.check(nodeId, { rotating: false })
        if (live === 'refuse' && await this.#isHeld(nodeId, now)) { throw new EnrollmentError('NODE_ID_TAKEN') }
        const device = await this.#attest(req.attestation, nodeId, csr.spki, now)
        // 4. Spend one use atomically (the losers of a race get TOKEN_REJECTED here), pin the
        // TPM (first enrollment), then issue; if that fails after all, the use is given back.
        // The store checks the holder again under its write lock (two racing enrollments for
        // one node_id: the second gets NODE_ID_TAKEN) and revokes a superseded one in the same batch.
        const grant = await this.tokens.consume(req.token, { now: now.getTime(), nodeId })
        let issued: IssuedCert
        try {
          const pinned = device != null ? await this.devices.pinFirst(nodeId, device, now) : undefined
          issued = await this.ca.issue({ csr: csr.der, now, nodeId, profile: 'node', liveCertificates: live, ...this.#attestedExtension(device, now) })
          if (pinned != null) { await this.devices.noteSerial(pinned, issued.serialHex) }
        } catch (err) {
          await grant.refund()
          throw err
        }
        this.gate.noteIssued(nodeId)
        const superseded = issued.superseded ?? []
        this.#events.info({ event: 'enroll-accepted', node_id: nodeId, token_id: grant.tokenId, serial: issued.serialHex, superseded }, 'enrollment accepted')
        if (superseded.length > 0) {
          this.#events.info({ event: 'revoked', serials: superseded, node_id: nodeId, reason: 'superseded', by: `replacement-token:${grant.tokenId}` }, 'certificates revoked')
          await this.#publishCrl(now)
        }
        return this.#issuedBody(issued)
      }
      return this.gate.policy.maxNodes != null ? await this.#capLock.run(run) : await run()
    } catch (err) {
      const e = toEnrollmentError(err)
      const refusal = err instanceof TokenError ? err.refusal : undefined
      this.#events.info({ event: 'enroll-refused', code: e.code, node_id: seen.nodeId, token_id: seen.tokenId, ...(refusal != null ? { token_refusal: refusal } : {}) }, 'enrollment refused')
      throw e
    }
  }

  /**
   * True when `nodeId` has a live certificate (unexpired at `now`, unrevoked) from this CA or
   * from the one being retired. A look ahead of the store's own check, so that a refusal costs
   * neither a signature nor a token use.
   */
  async #isHeld (nodeId: string, now: Date): Promise<boolean> {
    for (const ca of this.#accepted.map(a => a.ca)) {
      for (const c of await ca.certificatesOf(nodeId)) {
        if (c.notAfter > now.getTime() && await ca.store.getRevocation(c.serialHex) == null) { return true }
      }
    }
    return false
  }

  /**
   * Builds a new CRL and hands it to the revocation listeners (the mesh publisher pushes and
   * gossips it; GET /v1/crl serves it). A failure here leaves the revocation stored: the next
   * GET /v1/crl rebuilds the CRL from it.
   */
  async #publishCrl (now: Date): Promise<void> {
    let crl
    try {
      crl = await this.ca.buildCrl(now)
    } catch {
      return
    }
    for (const listener of this.#revocationListeners) {
      try { listener({ der: crl.der, crlNumber: crl.crlNumber }) } catch {}
    }
  }

  async rotate (req: { client: ClientIdentity, csrPem: string, currentSerial: string, attestation?: AttestationEvidence }, now: Date): Promise<IssuedCertificate> {
    try {
      const nodeId = req.client.nodeId
      if (req.client.role !== 'node' || nodeId == null) { throw new EnrollmentError('CLIENT_CERT_WRONG_ROLE') }
      if (normalizeSerialHex(req.currentSerial) !== normalizeSerialHex(req.client.serialHex)) { throw new EnrollmentError('SERIAL_MISMATCH') }
      const csr = parseCsr(csrDerFromText(req.csrPem))
      // The new certificate keeps the node_id: a CSR naming another one is refused.
      checkNodeCsr(csr, nodeId)
      await this.#checkNode(nodeId)
      // Only the newest certificate of the node_id rotates, once (a retry gets its answer again).
      const succession = await checkSuccession(this.#accepted.map(a => a.ca), { serialHex: req.client.serialHex, nodeId, csrSpki: csr.spki, via: 'rotate' }, now)
      if (succession.kind === 'replay') {
        this.#events.info({ event: 'rotate-accepted', node_id: nodeId, old_serial: req.client.serialHex, serial: succession.successor.serialHex, replayed: true }, 'rotation answered again')
        return this.#recordBody(succession.successor)
      }
      const device = await this.#attest(req.attestation, nodeId, csr.spki, now)
      // A node that enrolled without a TPM and now attests gets its TPM pinned from here on.
      const pinned = device != null ? await this.devices.pinFirst(nodeId, device, now) : undefined
      // Issued from `now`, so it overlaps the current one (valid now by the route hook); the CA
      // clamps notAfter to the issuer's. The current certificate stays valid to its own expiry,
      // but is recorded as superseded in the same batch: it can mint nothing more.
      const issued = await this.#issueSuccessor({ csr: csr.der, now, nodeId, profile: 'node', supersedes: { serialHex: req.client.serialHex, via: 'rotate' }, ...this.#attestedExtension(device, now) })
      if (pinned != null) { await this.devices.noteSerial(pinned, issued.serialHex) }
      this.#events.info({ event: 'rotate-accepted', node_id: nodeId, old_serial: req.client.serialHex, serial: issued.serialHex }, 'rotation accepted')
      return this.#issuedBody(issued)
    } catch (err) {
      const e = toEnrollmentError(err)
      if (req.client.role === 'node') {
        this.#events.info({ event: 'rotate-refused', code: e.code, node_id: req.client.nodeId ?? null, serial: req.client.serialHex }, 'rotation refused')
      }
      throw e
    }
  }

  /**
   * Issues a rotation's or renewal's successor. The store refuses a second successor of one
   * serial under its write lock (ALREADY_SUPERSEDED): the loser of a race learns here what won.
   */
  async #issueSuccessor (req: IssueRequest & { supersedes: { serialHex: string, via: SupersessionVia } }): Promise<IssuedCert> {
    try {
      return await this.ca.issue(req)
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'ALREADY_SUPERSEDED')) { throw err }
      const winner = await this.ca.store.supersededBy(req.supersedes.serialHex)
      throw new EnrollmentError(req.supersedes.via === 'renew' && winner?.via === 'renew' ? 'ALREADY_RENEWED' : 'CERT_SUPERSEDED', { cause: err })
    }
  }

  /**
   * Revokes one serial, or every certificate of a node_id and blocks it. A node_id neither this
   * CA nor the retired one ever issued to is refused (UNKNOWN_NODE_ID) unless `blockUnknown`.
   * `by` names who asked, for the event log: an admin certificate's name, or the local operator.
   */
  async revoke (req: RevokeRequest, now: Date): Promise<{ serials: string[] }> {
    try {
      if ((req.serialHex == null) === (req.nodeId == null)) { throw new EnrollmentError('INVALID_REVOKE_TARGET') }
      const reason = req.reason ?? 'unspecified'
      const by = req.by ?? 'local-admin-socket'
      let result: { serials: string[] }
      if (req.serialHex != null) {
        const r = await this.ca.revoke({ serialHex: req.serialHex, now, reason, by })
        result = { serials: r.serials }
        this.#events.info({ event: 'revoked', serials: r.serials, node_id: r.nodeId ?? null, reason, by }, 'certificate revoked')
      } else {
        const nodeId = req.nodeId as string
        const knownToRetired = isValidNodeId(nodeId) && this.previous != null && (await this.previous.certificatesOf(nodeId)).length > 0
        result = await this.ca.revokeNodeId({ nodeId, now, reason, by, blockUnknown: req.blockUnknown === true || knownToRetired })
        this.gate.noteRevoked(nodeId)
        this.#events.info({ event: 'revoked', serials: result.serials, node_id: nodeId, reason, by }, 'node_id revoked and blocked')
      }
      // A new CRL at once, so the next GET /v1/crl (and gossip) carries the revocation.
      const crl = await this.ca.buildCrl(now)
      for (const listener of this.#revocationListeners) {
        try { listener({ der: crl.der, crlNumber: crl.crlNumber }) } catch {}
      }
      return result
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  async crl (now: Date, scope: 'issuing' | 'root' = 'issuing'): Promise<CrlSnapshot> {
    try {
      const info = await this.ca.currentCrl(now, scope)
      // A strong validator: the CRL bytes' hash (128 bits of SHA-256 is ample for equality).
      const etag = createHash('sha256').update(info.der).digest('base64url').slice(0, 22)
      return { der: info.der, etag, crlNumber: info.crlNumber, thisUpdate: info.thisUpdate, nextUpdate: info.nextUpdate }
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  async crlPem (now: Date, scope: 'issuing' | 'root' = 'issuing'): Promise<string> {
    try {
      return (await this.ca.currentCrl(now, scope)).pem
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  /**
   * Checks a client chain (leaf first) against the mesh root with the current CRL(s): the
   * validity window, revocation, and the EKU of the role its SAN claims (node: clientAuth +
   * serverAuth; admin: clientAuth). Any failure is CLIENT_CERT_INVALID.
   */
  async authenticateClient (chainDer: Uint8Array[], now: Date): Promise<ClientIdentity> {
    // Node certificates directly or through a session certificate; this CA's, then the retired one's.
    return authenticateChain(this.#accepted, chainDer, now)
  }

  issueRenewNonce (now: Date): { nonce: Uint8Array, expiresAt: number } {
    const n = this.renewNonces.issue(now.getTime())
    return { nonce: n.nonce, expiresAt: n.expiresAt }
  }

  /**
   * `POST /v1/renew` (issue 9): a node whose certificate expired while it was offline proves
   * possession of its old key (and, by the CSR, of its new one) and gets a new certificate
   * without a token, if its node_id is not revoked, the expiry lies within the renewal window,
   * and attestation passes where the policy wants it. See `checkRenewal` for the order of checks.
   */
  async renew (req: RenewRequest, now: Date): Promise<IssuedCertificate> {
    // The certificate being renewed, once found in our records (the log names nothing unproven).
    const seen: { serial?: string, nodeId?: string } = {}
    try {
      const cas = this.#accepted.map(a => a.ca)
      const grant = await checkRenewal({
        cas,
        nonces: this.renewNonces,
        windowMs: this.#renewalWindowMs,
        checkNode: async (nodeId) => { await this.#checkNode(nodeId) },
        csrDer: csrDerFromText,
        seen
      }, req, now)
      // Only the newest certificate of the node_id renews, once (a retry gets its answer again).
      const succession = await checkSuccession(cas, { serialHex: grant.old.serialHex, nodeId: grant.nodeId, csrSpki: grant.csr.spki, via: 'renew' }, now)
      if (succession.kind === 'replay') {
        this.#events.info({ event: 'renew-accepted', node_id: grant.nodeId, old_serial: grant.old.serialHex, serial: succession.successor.serialHex, replayed: true }, 'renewal answered again')
        return this.#recordBody(succession.successor)
      }
      const device = await this.#attest(req.attestation, grant.nodeId, grant.csr.spki, now)
      const pinned = device != null ? await this.devices.pinFirst(grant.nodeId, device, now) : undefined
      const issued = await this.#issueSuccessor({ csr: grant.csr.der, now, nodeId: grant.nodeId, profile: 'node', supersedes: { serialHex: grant.old.serialHex, via: 'renew' }, ...this.#attestedExtension(device, now) })
      if (pinned != null) { await this.devices.noteSerial(pinned, issued.serialHex) }
      await this.ca.store.appendAudit(now.getTime(), 'renew-after-expiry', { node_id: grant.nodeId, old_serial: grant.old.serialHex, serial: issued.serialHex, expired_ms: Math.max(0, now.getTime() - grant.old.notAfter) })
      this.#events.info({ event: 'renew-accepted', node_id: grant.nodeId, old_serial: grant.old.serialHex, serial: issued.serialHex }, 'renewal accepted')
      return this.#issuedBody(issued)
    } catch (err) {
      const e = toEnrollmentError(err)
      this.#events.info({ event: 'renew-refused', code: e.code, node_id: seen.nodeId ?? null, serial: seen.serial ?? null }, 'renewal refused')
      throw e
    }
  }

  /** Signs a "rotate now" notice (issuing CA key) and hands it to the notice listeners. */
  async rotateNow (req: RotateNowRequest, now: Date): Promise<Uint8Array> {
    try {
      return this.#announce(await createRotateNowNotice(this.ca, req, now))
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  /** Signs a trust bundle (root key) and hands it to the notice listeners. */
  async trustBundle (req: TrustBundleRequest, now: Date): Promise<Uint8Array> {
    try {
      return this.#announce(await createTrustBundleNotice(this.ca, req, now))
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  /** The latest notice of each kind (base64), for nodes that poll. */
  async latestNotices (): Promise<string[]> {
    const out: string[] = []
    for (const kind of ['trust-bundle', 'rotate-now']) {
      const n = await this.ca.store.latestNotice(kind)
      if (n != null) { out.push(n.notice) }
    }
    return out
  }

  /** Calls `listener` with every notice this service signs (the CA's mesh publisher pushes it); returns its remover. */
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

  /** The node_id policy of rotate and renew: this CA's gate, and the retired CA's revoked node_ids. */
  async #checkNode (nodeId: string): Promise<void> {
    await this.gate.check(nodeId, { rotating: true })
    if (this.previous != null && await this.previous.isNodeRevoked(nodeId)) { throw new EnrollmentError('NODE_REVOKED') }
  }

  async createToken (req: { nodeId?: string, ttlMs: number, uses: number, replace?: boolean }, now: Date): Promise<CreatedToken> {
    try {
      const replace = req.replace === true
      const t = await this.tokens.create({ now: now.getTime(), ttlMs: req.ttlMs, uses: req.uses, ...(req.nodeId != null ? { nodeId: req.nodeId } : {}), ...(replace ? { replace } : {}) })
      await this.ca.store.appendAudit(now.getTime(), 'token-create', { token_id: t.tokenId, node_id: req.nodeId ?? null, uses: req.uses, expires_at: t.record.expiresAt, ...(replace ? { replace } : {}) })
      this.#events.info({ event: 'token-minted', token_id: t.tokenId, node_id: req.nodeId ?? null, uses: req.uses, expires_at: t.record.expiresAt, replace }, 'token minted')
      return { token: t.token, tokenId: t.tokenId, expiresAt: t.record.expiresAt, uses: req.uses, ...(req.nodeId != null ? { nodeId: req.nodeId } : {}), ...(replace ? { replace } : {}) }
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  async issueAdminCert (req: { csrPem: string, name: string, validitySeconds?: number }, now: Date): Promise<{ certificatePem: string, chainPem: string, caCertPem: string, serialHex: string, notAfter: number }> {
    try {
      const issued = await this.ca.issue({ csr: csrDerFromText(req.csrPem), now, profile: 'admin', adminName: req.name, ...(req.validitySeconds != null ? { validitySeconds: req.validitySeconds } : {}) })
      return { certificatePem: issued.pem, chainPem: issued.chainPem, caCertPem: this.ca.rootPem, serialHex: issued.serialHex, notAfter: issued.notAfter }
    } catch (err) {
      const mapped = toEnrollmentError(err)
      throw mapped.code === 'NODE_ID_CONFLICT' ? new EnrollmentError('INVALID_ADMIN_NAME', { cause: err }) : mapped
    }
  }

  /** A member reports a peer's failed attestation (see attestation-reports.ts). */
  async reportAttestationFailure (report: AttestationFailureReport, now: Date): Promise<ReportOutcome> {
    try {
      return await this.attestationReports.report(report, now)
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  async clearNodeRevocation (nodeId: string, now: Date): Promise<boolean> {
    try {
      return await this.ca.clearNodeRevocation(nodeId, now)
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  /**
   * `ca unblock`: lifts the block on a node_id so it may enroll again with a fresh token (its
   * old certificates stay revoked). INVALID_NODE_ID or NODE_NOT_BLOCKED when there is nothing to lift.
   */
  async unblockNode (req: { nodeId: string, by?: string }, now: Date): Promise<void> {
    try {
      await this.ca.unblockNodeId(req.nodeId, now)
      this.#events.info({ event: 'node-unblocked', node_id: req.nodeId, by: req.by ?? 'local-admin-socket' }, 'node_id unblocked')
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  /** Runs the verifier against the node_id's pinned TPM; returns the device of an accepted quote. */
  async #attest (evidence: AttestationEvidence | undefined, nodeId: string, csrSpki: Uint8Array, now: Date): Promise<DeviceBinding | undefined> {
    const pinned = await this.devices.binding(nodeId)
    const verdict = await this.#attestation.verify({ ...(evidence != null ? { evidence } : {}), nodeId, csrSpki, now, ...(pinned != null ? { pinned } : {}) })
    // [REJECT] evidence the verifier refused, with its code
    if (verdict.result === 'reject') { throw new EnrollmentError(verdict.code ?? 'ATTESTATION_REJECTED') }
    // [REJECT] when ca.json demands attestation, anything short of "accept" (the software
    // verifier's "none" included)
    if (this.gate.policy.requireAttestation === true && verdict.result !== 'accept') {
      throw new EnrollmentError('ATTESTATION_REJECTED')
    }
    return verdict.result === 'accept' ? verdict.device : undefined
  }

  /**
   * The attested-device extension for a certificate issued right after a quote passed (`device`
   * is set only for verdict "accept"): this policy's id and the time of the check.
   */
  #attestedExtension (device: DeviceBinding | undefined, now: Date): { attested?: AttestedDevice } {
    if (device == null || this.attestationPolicy == null) { return {} }
    return { attested: { policyId: attestationPolicyId(this.attestationPolicy), attestedAt: now.getTime() } }
  }

  /** The TPM pinned for `nodeId`, as the attest protocol and operators see it. */
  async deviceOf (nodeId: string): Promise<DeviceBinding | undefined> {
    return this.devices.binding(nodeId)
  }

  /** The answer for a certificate issued earlier (a rotation or renewal asked again). */
  #recordBody (rec: IssuedCertRecord): IssuedCertificate {
    return {
      certificatePem: derToPem(Buffer.from(rec.der, 'base64'), 'CERTIFICATE'),
      chainPem: this.ca.chainPem,
      caCertPem: this.ca.rootPem,
      nodeId: rec.nodeId ?? rec.subject,
      serialHex: rec.serialHex,
      notBefore: rec.notBefore,
      notAfter: rec.notAfter
    }
  }

  #issuedBody (issued: IssuedCert): IssuedCertificate {
    return {
      certificatePem: issued.pem,
      chainPem: issued.chainPem,
      caCertPem: this.ca.rootPem,
      nodeId: issued.nodeId ?? issued.subject,
      serialHex: issued.serialHex,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter
    }
  }
}
