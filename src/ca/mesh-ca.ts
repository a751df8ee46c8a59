import { isValidNodeId } from '../pki/node-identity.ts'
import { isRevocationReason } from '../pki/revocation-reasons.ts'
import { createLock } from '../util/lock.ts'
import { buildCrl, currentCrl } from './ca-crl.ts'
import { createCa } from './ca-init.ts'
import { loadCa } from './ca-open.ts'
import { IssuanceError } from './errors.ts'
import { issueCertificate } from './issue.ts'
import type { CrlInfo, CrlScope } from './ca-crl.ts'
import type { CaInitOptions } from './ca-init.ts'
import type { CaOpenOptions } from './ca-open.ts'
import type { CaState } from './ca-state.ts'
import type { CaConfig } from './config.ts'
import type { IssuedCert, IssueRequest } from './issue.ts'
import type { Certificate } from '../pki/certificate.ts'
import type { RevocationReason } from '../pki/revocation-reasons.ts'
import type { CaStore, IssuedCertRecord } from '../store/ca-store.ts'
import type { MeshStore } from '../store/mesh-store.ts'

/** Canonical serial hex: lowercase, no separators, no leading zeros (as `Certificate.serialHex`). */
export function normalizeSerialHex (s: string): string {
  const h = s.trim().toLowerCase().replace(/:/g, '')
  if (!/^[0-9a-f]{1,40}$/.test(h)) {
    throw new IssuanceError('UNKNOWN_SERIAL', 'serial must be 1-40 hex digits')
  }
  return BigInt('0x' + h).toString(16)
}

/**
 * The mesh CA: a root (and by default an issuing intermediate) whose keys sit encrypted in
 * `DIR/keys`, its certificates in `DIR/root.pem` and `DIR/ca-chain.pem`, settings in
 * `DIR/ca.json` and its state (issued certs, revocations, CRL numbers, audit log) in `DIR/db`.
 * One process opens a CA at a time (LevelDB holds a lock on `DIR/db`).
 */
export class MeshCa {
  readonly #state: CaState
  readonly #crlLock = createLock()
  #closed = false

  private constructor (state: CaState) {
    this.#state = state
  }

  /** Creates a new CA in `opts.dir`; refuses (CA_EXISTS) when one is there. */
  static async init (opts: CaInitOptions): Promise<MeshCa> {
    return new MeshCa(await createCa(opts))
  }

  /** Opens the CA in `opts.dir` (KeyStoreError WRONG_PASSPHRASE / TAMPERED_KEY_FILE on bad keys). */
  static async open (opts: CaOpenOptions): Promise<MeshCa> {
    return new MeshCa(await loadCa(opts))
  }

  async close (): Promise<void> {
    if (this.#closed) { return }
    this.#closed = true
    await this.#crlLock.run(async () => {})
    try {
      await this.#state.meshStore.close()
    } finally {
      await this.#state.closeKeys()
    }
  }

  #open (): CaState {
    if (this.#closed) { throw new IssuanceError('CA_CLOSED', 'the CA is closed') }
    return this.#state
  }

  /** False once `close` began: the keys are released and nothing can be signed. */
  get isOpen (): boolean { return !this.#closed }

  get dir (): string { return this.#state.dir }
  get config (): Readonly<CaConfig> { return this.#state.config }
  /** The trust anchor, PEM. */
  get rootPem (): string { return this.#state.rootPem }
  /** The issuing chain, issuer first, root last, PEM. */
  get chainPem (): string { return this.#state.chainPem }
  get rootCertificate (): Certificate { return this.#state.root }
  get issuingCertificate (): Certificate { return this.#state.issuing }
  /** The process's one LevelDB: other concerns (enrollment tokens) take their sublevels from it. */
  get meshStore (): MeshStore { return this.#state.meshStore }
  /** The CA's typed store (read access for services and tests). */
  get store (): CaStore { return this.#state.store }

  /** Issues a leaf certificate from a CSR; throws and stores nothing when any check fails. */
  async issue (req: IssueRequest): Promise<IssuedCert> {
    return issueCertificate(this.#open(), req)
  }

  async getCertificate (serialHex: string): Promise<IssuedCertRecord | undefined> {
    return this.#open().store.getCert(normalizeSerialHex(serialHex))
  }

  async certificatesOf (nodeId: string): Promise<IssuedCertRecord[]> {
    return this.#open().store.certsByNode(nodeId)
  }

  /**
   * Revokes one certificate by serial (idempotent). Returns the serial, canonical, and the
   * certificate's node_id. `by` names the operator in the audit entry.
   */
  async revoke (req: { serialHex: string, reason?: RevocationReason, now: Date, by?: string }): Promise<{ serials: string[], nodeId?: string }> {
    const state = this.#open()
    const reason = checkReason(req.reason)
    const serialHex = normalizeSerialHex(req.serialHex)
    const rec = await state.store.getCert(serialHex)
    if (rec == null) { throw new IssuanceError('UNKNOWN_SERIAL', `this CA issued no certificate with serial ${serialHex}`) }
    if (rec.profile === 'root') { throw new IssuanceError('BAD_PROFILE_INPUT', 'a root is not revoked: remove it from the trust stores') }
    await state.store.revoke([{
      serialHex, reason, time: req.now.getTime(), profile: rec.profile, notAfter: rec.notAfter, ...(rec.nodeId != null ? { nodeId: rec.nodeId } : {})
    }], req.now.getTime(), { action: 'revoke', fields: { serial: serialHex, reason, ...(req.by != null ? { by: req.by } : {}) } })
    return { serials: [serialHex], ...(rec.nodeId != null ? { nodeId: rec.nodeId } : {}) }
  }

  /**
   * Revokes every certificate of `nodeId` and blocks the node_id, so the CA issues it nothing
   * more until an operator calls `clearNodeRevocation`. A node_id this CA never issued to is
   * refused (UNKNOWN_NODE_ID): a typo would otherwise block a name nobody holds and leave the
   * node meant untouched. `blockUnknown` blocks it all the same (a name to keep out before any
   * enrollment, or one known only to a retired CA). `by` names the operator in the audit entry.
   */
  async revokeNodeId (req: { nodeId: string, reason?: RevocationReason, now: Date, blockUnknown?: boolean, by?: string }): Promise<{ serials: string[] }> {
    const state = this.#open()
    const reason = checkReason(req.reason)
    if (!isValidNodeId(req.nodeId)) { throw new IssuanceError('INVALID_NODE_ID', 'node_id has invalid syntax') }
    const time = req.now.getTime()
    const certs = await state.store.certsByNode(req.nodeId)
    if (certs.length === 0 && req.blockUnknown !== true) {
      throw new IssuanceError('UNKNOWN_NODE_ID', `this CA never issued a certificate to node_id ${req.nodeId}`)
    }
    await state.store.revoke(
      certs.map(c => ({ serialHex: c.serialHex, reason, time, profile: c.profile, notAfter: c.notAfter, nodeId: req.nodeId })),
      time,
      { action: 'revoke-node', fields: { node_id: req.nodeId, reason, ...(req.by != null ? { by: req.by } : {}) } },
      { nodeId: req.nodeId, reason, time }
    )
    return { serials: certs.map(c => c.serialHex) }
  }

  async isNodeRevoked (nodeId: string): Promise<boolean> {
    return await this.#open().store.nodeRevocation(nodeId) != null
  }

  /** Operator action: lets `nodeId` enroll again. Its old certificates stay revoked. */
  async clearNodeRevocation (nodeId: string, now: Date): Promise<boolean> {
    return this.#open().store.clearNodeRevocation(nodeId, now.getTime())
  }

  /** `clearNodeRevocation` that refuses a malformed node_id (INVALID_NODE_ID) or one not blocked (NODE_NOT_BLOCKED). */
  async unblockNodeId (nodeId: string, now: Date): Promise<void> {
    if (!isValidNodeId(nodeId)) { throw new IssuanceError('INVALID_NODE_ID', 'node_id has invalid syntax') }
    if (!(await this.clearNodeRevocation(nodeId, now))) { throw new IssuanceError('NODE_NOT_BLOCKED', `node_id ${nodeId} is not blocked`) }
  }

  /**
   * Signs `data` (the signed bytes of a mesh notice, see protocols/rotate-now) with the issuing
   * CA's key, for operational notices such as rotate-now, or with the root's, for trust bundles:
   * only a root may change what nodes trust. Returns the signature (X.509 encoding) and the
   * signer's chain, signer first, root last (DER). The CA knows nothing of the notice format.
   */
  async signNotice (data: Uint8Array, signer: 'issuing' | 'root'): Promise<{ signature: Uint8Array, chain: Uint8Array[] }> {
    const state = this.#open()
    if (signer === 'root') { return { signature: await state.rootKey.sign(data), chain: [state.root.der] } }
    const chain = state.issuing === state.root ? [state.root.der] : [state.issuing.der, state.root.der]
    return { signature: await state.issuingKey.sign(data), chain }
  }

  /** The next mesh notice sequence number (monotonic, at least `now` in ms; see CaStore). */
  async nextNoticeSequence (now: Date): Promise<number> {
    return this.#open().store.nextNoticeSequence(now.getTime())
  }

  /** Builds a new CRL (next CRL number) signed by the issuing CA, or by the root for `scope: 'root'`. */
  async buildCrl (now: Date, scope: CrlScope = 'issuing'): Promise<CrlInfo> {
    const state = this.#open()
    return this.#crlLock.run(async () => buildCrl(state, scope, now))
  }

  /** The latest CRL, rebuilt when revocations changed or it is past half its life. */
  async currentCrl (now: Date, scope: CrlScope = 'issuing'): Promise<CrlInfo> {
    const state = this.#open()
    return this.#crlLock.run(async () => currentCrl(state, scope, now))
  }
}

function checkReason (reason: string | undefined): RevocationReason {
  const r = reason ?? 'unspecified'
  if (!isRevocationReason(r)) { throw new IssuanceError('BAD_REASON', `unknown revocation reason ${r}`) }
  return r
}
