import { createLock } from '../util/lock.ts'
import { randomSerialHex, SERIAL_ATTEMPTS } from './ca-records.ts'
import { StoreError } from './errors.ts'
import { SYNC } from './mesh-store.ts'
import type { AuditEntry, AuditValue, CertProfile, CrlRecord, IssuedCertRecord, NodeRevocationRecord, RevocationRecord, SupersededRecord } from './ca-records.ts'
import type { MeshStore, Sublevel } from './mesh-store.ts'

export * from './ca-records.ts'

/** Width of audit keys: lexicographic order equals numeric order up to 10^16 entries. */
const AUDIT_KEY_WIDTH = 16
const auditKey = (seq: number): string => String(seq).padStart(AUDIT_KEY_WIDTH, '0')

/** The index key of one certificate under its node_id (node ids never contain NUL). */
const nodeKey = (nodeId: string, serialHex: string): string => `${nodeId}\x00${serialHex}`

/** Mesh notices kept in ca-meta under `notice:KIND:SEQ` (an older layout kept `notice:KIND`, also read). */
const NOTICE_PREFIX = 'notice:'
/** Unexpired notices the CA keeps at most: what one `GET /v1/notices` hands out. */
export const MAX_NOTICES_KEPT = 64

/**
 * The CA's persistent state over typed sublevels. Writes run one at a time (an in-process lock),
 * each as one atomic `sync` batch that also appends its audit entry, so that a crash never leaves
 * a certificate without its audit line or a serial counted twice.
 */
export class CaStore {
  readonly #store: MeshStore
  readonly #meta: Sublevel<any>
  readonly #serials: Sublevel<{ profile: CertProfile, time: number }>
  readonly #certs: Sublevel<IssuedCertRecord>
  readonly #byNode: Sublevel<string>
  readonly #revoked: Sublevel<RevocationRecord>
  readonly #revokedNodes: Sublevel<NodeRevocationRecord>
  readonly #superseded: Sublevel<SupersededRecord>
  readonly #audit: Sublevel<Omit<AuditEntry, 'seq'>>
  #nextAuditSeq = 0
  readonly #lock = createLock()

  private constructor (store: MeshStore) {
    this.#store = store
    this.#meta = store.sublevel('ca-meta')
    this.#serials = store.sublevel('ca-serials')
    this.#certs = store.sublevel('ca-certs')
    this.#byNode = store.sublevel('ca-certs-by-node')
    this.#revoked = store.sublevel('ca-revoked')
    this.#revokedNodes = store.sublevel('ca-revoked-nodes')
    this.#superseded = store.sublevel('ca-superseded')
    this.#audit = store.sublevel('ca-audit')
  }

  /** Opens the CA's sublevels and finds where the audit log ends. */
  static async open (store: MeshStore): Promise<CaStore> {
    const s = new CaStore(store)
    for await (const key of s.#audit.keys({ reverse: true, limit: 1 })) {
      s.#nextAuditSeq = Number(key) + 1
    }
    return s
  }

  /** Runs write steps one at a time so check-then-write sequences cannot interleave. */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(fn)
  }

  /** The audit entry for the batch being built; `#commit` advances the sequence once it is written. */
  #auditOp (time: number, action: string, fields: Record<string, AuditValue>): any {
    return { type: 'put', sublevel: this.#audit, key: auditKey(this.#nextAuditSeq), value: { time, action, fields } }
  }

  /** Writes one batch (carrying exactly one audit entry) durably, then advances the audit sequence. */
  async #commit (ops: any[]): Promise<void> {
    await this.#store.db.batch(ops, SYNC)
    this.#nextAuditSeq++
  }

  /** A random serial that is not in use now (the final check happens in `recordIssued`). */
  async freshSerial (): Promise<string> {
    for (let i = 0; i < SERIAL_ATTEMPTS; i++) {
      const s = randomSerialHex()
      if (!(await this.#serials.has(s))) { return s }
    }
    throw new StoreError('SERIAL_SPACE_EXHAUSTED', 'no unused serial found')
  }

  /** Stores an issued certificate, its serial, node index and audit entry in one sync batch. */
  async recordIssued (rec: IssuedCertRecord, audit: Record<string, AuditValue> = {}): Promise<void> {
    await this.#locked(async () => {
      if (await this.#serials.has(rec.serialHex)) {
        throw new StoreError('SERIAL_COLLISION', `serial ${rec.serialHex} is already in use`)
      }
      // Checked under the write lock and written in this batch: of two requests racing to
      // supersede one serial (two renewals, a renewal and a rotation), exactly one is stored.
      const old = rec.supersedes?.serialHex
      if (old != null && await this.#superseded.has(old)) {
        throw new StoreError('ALREADY_SUPERSEDED', `serial ${old} already has a successor`)
      }
      const ops: any[] = [
        { type: 'put', sublevel: this.#serials, key: rec.serialHex, value: { profile: rec.profile, time: rec.issuedAt } },
        { type: 'put', sublevel: this.#certs, key: rec.serialHex, value: rec }
      ]
      if (rec.supersedes != null) {
        const value: SupersededRecord = { serialHex: rec.supersedes.serialHex, by: rec.serialHex, via: rec.supersedes.via, time: rec.issuedAt }
        ops.push({ type: 'put', sublevel: this.#superseded, key: rec.supersedes.serialHex, value })
      }
      if (rec.nodeId != null) {
        ops.push({ type: 'put', sublevel: this.#byNode, key: nodeKey(rec.nodeId, rec.serialHex), value: rec.serialHex })
      }
      const successor: Record<string, AuditValue> = rec.supersedes != null ? { supersedes: rec.supersedes.serialHex, via: rec.supersedes.via } : {}
      ops.push(this.#auditOp(rec.issuedAt, 'issue', {
        serial: rec.serialHex, profile: rec.profile, node_id: rec.nodeId ?? null, peer: rec.peerId ?? null, ...successor, ...audit
      }))
      await this.#commit(ops)
    })
  }

  /**
   * Stores a node certificate from an enrollment like `recordIssued`, deciding under the write
   * lock what becomes of the node_id's live certificates (unexpired at `now`, unrevoked), so no
   * issuance or revocation can slip between the look and the write: `refuse` throws
   * NODE_ID_TAKEN when there is one and stores nothing; `supersede` revokes them (reason
   * superseded) in the same sync batch, so the new holder never exists beside the old one.
   * Returns those revocations.
   */
  async recordIssuedForNode (rec: IssuedCertRecord, rule: { live: 'refuse' | 'supersede', now: number }): Promise<RevocationRecord[]> {
    const nodeId = rec.nodeId
    if (nodeId == null) { throw new TypeError('recordIssuedForNode needs a node certificate') }
    return this.#locked(async () => {
      const live: IssuedCertRecord[] = []
      for (const c of await this.certsByNode(nodeId)) {
        if (c.notAfter > rule.now && !(await this.#revoked.has(c.serialHex))) { live.push(c) }
      }
      if (rule.live === 'refuse' && live.length > 0) {
        throw new StoreError('NODE_ID_TAKEN', `node_id ${nodeId} has a live certificate`)
      }
      if (await this.#serials.has(rec.serialHex)) {
        throw new StoreError('SERIAL_COLLISION', `serial ${rec.serialHex} is already in use`)
      }
      const superseded: RevocationRecord[] = live.map(c => ({ serialHex: c.serialHex, reason: 'superseded', time: rec.issuedAt, profile: c.profile, notAfter: c.notAfter, nodeId }))
      const ops: any[] = [
        { type: 'put', sublevel: this.#serials, key: rec.serialHex, value: { profile: rec.profile, time: rec.issuedAt } },
        { type: 'put', sublevel: this.#certs, key: rec.serialHex, value: rec },
        { type: 'put', sublevel: this.#byNode, key: nodeKey(nodeId, rec.serialHex), value: rec.serialHex },
        ...superseded.map(r => ({ type: 'put', sublevel: this.#revoked, key: r.serialHex, value: r }))
      ]
      if (superseded.length > 0) {
        ops.push({ type: 'put', sublevel: this.#meta, key: 'revocation-epoch', value: await this.revocationEpoch() + 1 })
      }
      const fields: Record<string, AuditValue> = { serial: rec.serialHex, profile: rec.profile, node_id: nodeId, peer: rec.peerId ?? null }
      if (rule.live === 'supersede') { fields.superseded = superseded.map(r => r.serialHex).join(',') }
      ops.push(this.#auditOp(rec.issuedAt, 'issue', fields))
      await this.#commit(ops)
      return superseded
    })
  }

  async getCert (serialHex: string): Promise<IssuedCertRecord | undefined> {
    return this.#certs.get(serialHex)
  }

  /** The successor of a node certificate, if it has one. */
  async supersededBy (serialHex: string): Promise<SupersededRecord | undefined> {
    return this.#superseded.get(serialHex)
  }

  /** Every certificate issued to a node_id, oldest serial order (not time order). */
  async certsByNode (nodeId: string): Promise<IssuedCertRecord[]> {
    const out: IssuedCertRecord[] = []
    for await (const serial of this.#byNode.values({ gt: `${nodeId}\x00`, lt: `${nodeId}\x01` })) {
      const rec = await this.#certs.get(serial)
      if (rec != null) { out.push(rec) }
    }
    return out
  }

  /** Number of certificates stored (tests use it to prove a refusal stored nothing). */
  async countCerts (): Promise<number> {
    let n = 0
    for await (const _ of this.#certs.keys()) { n++ } // eslint-disable-line @typescript-eslint/no-unused-vars
    return n
  }

  async listCerts (): Promise<IssuedCertRecord[]> {
    return this.#certs.values().all()
  }

  /** Revokes serials (idempotent: the first revocation of a serial keeps its time and reason). */
  async revoke (records: RevocationRecord[], time: number, audit: { action: string, fields: Record<string, AuditValue> }, nodeRevocation?: NodeRevocationRecord): Promise<RevocationRecord[]> {
    return this.#locked(async () => {
      const fresh: RevocationRecord[] = []
      for (const r of records) {
        if (!(await this.#revoked.has(r.serialHex))) { fresh.push(r) }
      }
      const ops: any[] = fresh.map(r => ({ type: 'put', sublevel: this.#revoked, key: r.serialHex, value: r }))
      if (nodeRevocation != null) {
        ops.push({ type: 'put', sublevel: this.#revokedNodes, key: nodeRevocation.nodeId, value: nodeRevocation })
      }
      if (ops.length === 0) { return [] }
      ops.push({ type: 'put', sublevel: this.#meta, key: 'revocation-epoch', value: await this.revocationEpoch() + 1 })
      ops.push(this.#auditOp(time, audit.action, { ...audit.fields, serials: fresh.map(r => r.serialHex).join(',') }))
      await this.#commit(ops)
      return fresh
    })
  }

  async getRevocation (serialHex: string): Promise<RevocationRecord | undefined> {
    return this.#revoked.get(serialHex)
  }

  async revocations (): Promise<RevocationRecord[]> {
    return this.#revoked.values().all()
  }

  async nodeRevocation (nodeId: string): Promise<NodeRevocationRecord | undefined> {
    return this.#revokedNodes.get(nodeId)
  }

  /** Lifts a node_id block (its certificates stay revoked). Returns false if it was not blocked. */
  async clearNodeRevocation (nodeId: string, time: number): Promise<boolean> {
    return this.#locked(async () => {
      if (!(await this.#revokedNodes.has(nodeId))) { return false }
      await this.#commit([
        { type: 'del', sublevel: this.#revokedNodes, key: nodeId },
        this.#auditOp(time, 'clear-node-revocation', { node_id: nodeId })
      ])
      return true
    })
  }

  /** Counts revocation changes; a CRL built at an older epoch is stale. */
  async revocationEpoch (): Promise<number> {
    return (await this.#meta.get('revocation-epoch')) ?? 0
  }

  /** Persists `rec` as the latest CRL for `scope` after checking its number is higher than before. */
  async saveCrl (scope: 'issuing' | 'root', rec: CrlRecord, time: number): Promise<void> {
    await this.#locked(async () => {
      const prev = await this.#meta.get(`crl:${scope}`) as CrlRecord | undefined
      if (prev != null && prev.crlNumber >= rec.crlNumber) {
        throw new StoreError('CRL_NUMBER_NOT_MONOTONIC', `CRL number ${rec.crlNumber} is not above ${prev.crlNumber}`)
      }
      await this.#commit([
        { type: 'put', sublevel: this.#meta, key: `crl:${scope}`, value: rec },
        this.#auditOp(time, 'crl', { scope, crl_number: rec.crlNumber, epoch: rec.epoch })
      ])
    })
  }

  async latestCrl (scope: 'issuing' | 'root'): Promise<CrlRecord | undefined> {
    return this.#meta.get(`crl:${scope}`)
  }

  /** Reserves the next CRL number for `scope`, persisted before it is used, so numbers only rise. */
  async nextCrlNumber (scope: 'issuing' | 'root'): Promise<number> {
    return this.#locked(async () => {
      const key = `crl-number:${scope}`
      const n = ((await this.#meta.get(key)) ?? 0) + 1
      await this.#meta.put(key, n, SYNC)
      return n
    })
  }

  /**
   * Reserves the sequence number of a CA-signed mesh notice (rotate-now, trust bundle): above the
   * last one reserved here and at least `now` (ms), so that a successor CA, with a store of its
   * own, continues above its predecessor's numbers without coordination. Persisted before use.
   */
  async nextNoticeSequence (now: number): Promise<number> {
    return this.#locked(async () => {
      const last: number = (await this.#meta.get('notice-seq')) ?? 0
      const n = Math.max(last + 1, Math.floor(now))
      await this.#meta.put('notice-seq', n, SYNC)
      return n
    })
  }

  /**
   * Keeps a notice (base64) until it expires, for the enrollment service to hand to polling nodes:
   * every unexpired one, since a later notice (rotate-now for one node) does not replace an
   * earlier one (rotate-now for all). Keyed by kind and sequence; notices that expired by `time`
   * are dropped in the same batch. Refuses (NOTICE_LIMIT) beyond `maxKept` unexpired notices, so
   * what polling nodes fetch stays bounded.
   */
  async saveNotice (kind: string, noticeBase64: string, time: number, seq: number, exp: number, maxKept = MAX_NOTICES_KEPT): Promise<void> {
    await this.#locked(async () => {
      const kept = await this.listNotices()
      const expired = kept.filter(n => n.exp != null && n.exp <= time)
      if (kept.length - expired.length >= maxKept) {
        throw new StoreError('NOTICE_LIMIT', `${maxKept} unexpired notices are kept already; let some expire (or give a shorter --ttl) first`)
      }
      await this.#store.db.batch([
        ...expired.map(n => ({ type: 'del', sublevel: this.#meta, key: n.key })),
        { type: 'put', sublevel: this.#meta, key: `${NOTICE_PREFIX}${kind}:${String(seq).padStart(16, '0')}`, value: { notice: noticeBase64, time, exp } },
        this.#auditOp(time, 'notice', { kind, seq })
      ] as any[], SYNC)
      this.#nextAuditSeq++
    })
  }

  /** Every notice kept, expired or not (the caller filters by `exp`), in key order: by kind, then sequence. */
  async listNotices (): Promise<Array<{ key: string, notice: string, time: number, exp?: number }>> {
    const out: Array<{ key: string, notice: string, time: number, exp?: number }> = []
    // The prefix ends in ':', so the range ends just below ';'. Bounded: saveNotice caps the count.
    for await (const [key, value] of this.#meta.iterator({ gte: NOTICE_PREFIX, lt: 'notice;', limit: 4 * MAX_NOTICES_KEPT })) {
      out.push({ key, notice: value.notice, time: value.time, ...(typeof value.exp === 'number' ? { exp: value.exp } : {}) })
    }
    return out
  }

  /** Appends one audit entry on its own (issuance and revocation append theirs atomically). */
  async appendAudit (time: number, action: string, fields: Record<string, AuditValue> = {}): Promise<void> {
    await this.#locked(async () => {
      const op = this.#auditOp(time, action, fields)
      if (await this.#audit.has(op.key)) {
        throw new StoreError('AUDIT_SEQUENCE_CONFLICT', `audit entry ${op.key as string} exists`)
      }
      await this.#commit([op])
    })
  }

  /** Reads the audit log in order, from `fromSeq`, at most `limit` entries. */
  async auditLog (options: { fromSeq?: number, limit?: number } = {}): Promise<AuditEntry[]> {
    const out: AuditEntry[] = []
    for await (const [key, value] of this.#audit.iterator({ gte: auditKey(options.fromSeq ?? 0), limit: options.limit ?? 10_000 })) {
      out.push({ seq: Number(key), ...value })
    }
    return out
  }
}
