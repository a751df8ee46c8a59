import { createHash } from 'node:crypto'
import { DEFAULT_ATTESTATION_POLICY, policyPcrSelection } from '../attestation/policy.ts'
import { checkNodeCsr } from '../pki/ca/csr-policy.ts'
import { MeshCa, parseCsr, normalizeSerialHex } from '../pki/ca/index.ts'
import { pemToDer } from '../pki/pem.ts'
import { TokenStore } from '../store/token-store.ts'
import { createLock } from '../util/lock.ts'
import { loadAttestationPolicy } from './attestation-policy-file.ts'
import { softwareAttestationVerifier } from './attestation.ts'
import { createRotateNowNotice, createTrustBundleNotice } from './ca-notices.ts'
import { AcceptedCa, authenticateChain } from './client-chain.ts'
import { DevicePins } from './device-pins.ts'
import { toEnrollmentError } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import { NonceStore } from './nonce-store.ts'
import { PolicyGate, policyFromCaConfig } from './policy.ts'
import { checkRenewal, DEFAULT_RENEWAL_WINDOW_MS } from './renewal.ts'
import { TpmAttestationVerifier } from './tpm-attestation.ts'
import type { AttestationVerifier, DeviceBinding } from './attestation.ts'
import type { RotateNowRequest, TrustBundleRequest } from './ca-notices.ts'
import type { EnrollmentPolicy } from './policy.ts'
import type { AttestationEvidence, MeshConfigBody } from './schemas.ts'
import type { AttestationChallenge, CaAdminOps, ClientIdentity, CreatedToken, CrlSnapshot, EnrollmentCa, IssuedCertificate, RenewRequest } from './types.ts'
import type { AttestationPolicy } from '../attestation/policy.ts'
import type { CaOpenOptions, IssuedCert } from '../pki/ca/index.ts'
import type { RevocationReason } from '../pki/ca/revocation-reasons.ts'

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
    try {
      // 1. The token first: without a live one, a caller learns nothing about our CSR checks.
      const token = await this.tokens.inspect(req.token, now.getTime())
      // 2. The CSR: strict parse, self-signature, node profile (exactly the node and peer URIs).
      const csr = parseCsr(csrDerFromText(req.csrPem))
      const { nodeId } = checkNodeCsr(csr)
      if (req.nodeId != null && req.nodeId !== nodeId) { throw new EnrollmentError('NODE_ID_CONFLICT') }
      if (token.nodeId != null && token.nodeId !== nodeId) { throw new EnrollmentError('TOKEN_NODE_MISMATCH') }
      const run = async (): Promise<IssuedCertificate> => {
        // 3. Policy and attestation, still before the token is spent.
        await this.gate.check(nodeId, { rotating: false })
        const device = await this.#attest(req.attestation, nodeId, csr.spki, now)
        // 4. Spend one use atomically (the losers of a race get TOKEN_REJECTED here), pin the
        // TPM (first enrollment), then issue; if that fails after all, the use is given back.
        const grant = await this.tokens.consume(req.token, { now: now.getTime(), nodeId })
        let issued: IssuedCert
        try {
          const pinned = device != null ? await this.devices.pinFirst(nodeId, device, now) : undefined
          issued = await this.ca.issue({ csr: csr.der, now, nodeId, profile: 'node' })
          if (pinned != null) { await this.devices.noteSerial(pinned, issued.serialHex) }
        } catch (err) {
          await grant.refund()
          throw err
        }
        this.gate.noteIssued(nodeId)
        return this.#issuedBody(issued)
      }
      return this.gate.policy.maxNodes != null ? await this.#capLock.run(run) : await run()
    } catch (err) {
      throw toEnrollmentError(err)
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
      const device = await this.#attest(req.attestation, nodeId, csr.spki, now)
      // A node that enrolled without a TPM and now attests gets its TPM pinned from here on.
      const pinned = device != null ? await this.devices.pinFirst(nodeId, device, now) : undefined
      // Issued from `now`, so it overlaps the current one (valid now by the route hook); the CA
      // clamps notAfter to the issuer's. The current certificate is left as it is.
      const issued = await this.ca.issue({ csr: csr.der, now, nodeId, profile: 'node' })
      if (pinned != null) { await this.devices.noteSerial(pinned, issued.serialHex) }
      return this.#issuedBody(issued)
    } catch (err) {
      throw toEnrollmentError(err)
    }
  }

  async revoke (req: { serialHex?: string, nodeId?: string, reason?: RevocationReason }, now: Date): Promise<{ serials: string[] }> {
    try {
      if ((req.serialHex == null) === (req.nodeId == null)) { throw new EnrollmentError('INVALID_REVOKE_TARGET') }
      let result: { serials: string[] }
      if (req.serialHex != null) {
        result = await this.ca.revoke({ serialHex: req.serialHex, now, ...(req.reason != null ? { reason: req.reason } : {}) })
      } else {
        const nodeId = req.nodeId as string
        result = await this.ca.revokeNodeId({ nodeId, now, ...(req.reason != null ? { reason: req.reason } : {}) })
        this.gate.noteRevoked(nodeId)
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
    try {
      const grant = await checkRenewal({
        cas: this.#accepted.map(a => a.ca),
        nonces: this.renewNonces,
        windowMs: this.#renewalWindowMs,
        checkNode: async (nodeId) => { await this.#checkNode(nodeId) },
        csrDer: csrDerFromText
      }, req, now)
      const device = await this.#attest(req.attestation, grant.nodeId, grant.csr.spki, now)
      const pinned = device != null ? await this.devices.pinFirst(grant.nodeId, device, now) : undefined
      const issued = await this.ca.issue({ csr: grant.csr.der, now, nodeId: grant.nodeId, profile: 'node' })
      if (pinned != null) { await this.devices.noteSerial(pinned, issued.serialHex) }
      await this.ca.store.appendAudit(now.getTime(), 'renew-after-expiry', { node_id: grant.nodeId, old_serial: grant.old.serialHex, serial: issued.serialHex, expired_ms: Math.max(0, now.getTime() - grant.old.notAfter) })
      return this.#issuedBody(issued)
    } catch (err) {
      throw toEnrollmentError(err)
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

  async createToken (req: { nodeId?: string, ttlMs: number, uses: number }, now: Date): Promise<CreatedToken> {
    try {
      const t = await this.tokens.create({ now: now.getTime(), ttlMs: req.ttlMs, uses: req.uses, ...(req.nodeId != null ? { nodeId: req.nodeId } : {}) })
      await this.ca.store.appendAudit(now.getTime(), 'token-create', { token_id: t.tokenId, node_id: req.nodeId ?? null, uses: req.uses, expires_at: t.record.expiresAt })
      return { token: t.token, tokenId: t.tokenId, expiresAt: t.record.expiresAt, uses: req.uses, ...(req.nodeId != null ? { nodeId: req.nodeId } : {}) }
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

  async clearNodeRevocation (nodeId: string, now: Date): Promise<boolean> {
    try {
      return await this.ca.clearNodeRevocation(nodeId, now)
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

  /** The TPM pinned for `nodeId`, as the attest protocol and operators see it. */
  async deviceOf (nodeId: string): Promise<DeviceBinding | undefined> {
    return this.devices.binding(nodeId)
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
