import { createHash } from 'node:crypto'
import { SYNC } from './mesh-store.ts'
import type { MeshStore, Sublevel } from './mesh-store.ts'

/**
 * The mesh node's revocation state that must survive a restart: the newest CA-signed CRL it
 * installed per issuer, and the ETag of the representation it was fetched as (so the first poll
 * after a restart is a conditional request). The `node-crl` sublevel, keyed by a hash of the
 * issuer name key. Writes are `sync`: losing one would let a restarted node accept a revoked peer
 * until its next successful fetch.
 */

export interface StoredCrl {
  /** The CRL, DER. */
  der: Uint8Array
  crlNumber: bigint
  /** The issuer's normalized Name key (`crl.issuer.key`). */
  issuerKey: string
  /** The URL it was fetched from, and the ETag of that response (absent for gossip or push). */
  url?: string
  etag?: string
  /** Our clock when stored, ms. */
  storedAt: number
}

interface CrlRecord {
  der: string
  crl_number: string
  issuer_key: string
  url?: string
  etag?: string
  stored_at: number
}

/** Issuers held at most: one per issuing CA, a handful during CA rotation. */
export const MAX_STORED_CRLS = 64

export class CrlStateStore {
  private readonly db: Sublevel<CrlRecord>

  constructor (store: MeshStore) {
    this.db = store.sublevel<CrlRecord>('node-crl')
  }

  /**
   * Stores `crl` as the current one of its issuer unless a higher number is already stored (a
   * late writer never rolls revocation back). Returns whether it was written.
   */
  async put (crl: StoredCrl): Promise<boolean> {
    const key = keyOf(crl.issuerKey)
    const held = await this.db.get(key)
    if (held != null && BigInt(held.crl_number) > crl.crlNumber) { return false }
    const record: CrlRecord = {
      der: Buffer.from(crl.der).toString('base64'),
      crl_number: crl.crlNumber.toString(),
      issuer_key: crl.issuerKey,
      stored_at: crl.storedAt,
      ...(crl.url != null ? { url: crl.url } : {}),
      ...(crl.etag != null ? { etag: crl.etag } : {})
    }
    await this.db.put(key, record, SYNC)
    return true
  }

  async get (issuerKey: string): Promise<StoredCrl | undefined> {
    const record = await this.db.get(keyOf(issuerKey))
    return record == null ? undefined : fromRecord(record)
  }

  /** Every stored CRL (at most MAX_STORED_CRLS); malformed records are skipped. */
  async list (): Promise<StoredCrl[]> {
    const out: StoredCrl[] = []
    for await (const record of this.db.values({ limit: MAX_STORED_CRLS })) {
      const crl = fromRecord(record)
      if (crl != null) { out.push(crl) }
    }
    return out
  }
}

function keyOf (issuerKey: string): string {
  return createHash('sha256').update(issuerKey).digest('hex')
}

function fromRecord (r: CrlRecord): StoredCrl | undefined {
  if (typeof r?.der !== 'string' || typeof r.crl_number !== 'string' || !/^\d{1,60}$/.test(r.crl_number) || typeof r.issuer_key !== 'string') { return undefined }
  return {
    der: new Uint8Array(Buffer.from(r.der, 'base64')),
    crlNumber: BigInt(r.crl_number),
    issuerKey: r.issuer_key,
    storedAt: typeof r.stored_at === 'number' ? r.stored_at : 0,
    ...(typeof r.url === 'string' ? { url: r.url } : {}),
    ...(typeof r.etag === 'string' ? { etag: r.etag } : {})
  }
}
