import { derToPem } from '../util/pem.ts'
import type { CrlSnapshot, EnrollmentCa } from './types.ts'

/**
 * Longest the route serves a CRL without asking the CA again, ms. Revocations through the
 * service drop the cache at once (its revocation listener); this bounds the delay for any change
 * that does not pass through it (a CRL rebuilt at half its life, another process's store), while
 * a flood of fetches costs the store at most one read per second per scope.
 */
export const CRL_RECHECK_MS = 1000

/** One scope's CRL in the forms the route sends, built once per CRL rather than per request. */
export interface CachedCrl {
  snapshot: CrlSnapshot
  der: Buffer
  pem: string
  /** Quoted strong ETags of the two representations. */
  derEtag: string
  pemEtag: string
  checkedAt: number
}

type Scope = 'issuing' | 'root'

/** What CaService offers beyond EnrollmentCa: a call after each revocation, with its remover. */
interface RevocationSource { onRevocationCrl?(listener: () => void): () => void }

/**
 * The CRLs `GET /v1/crl` serves, from memory: no signing, no store read and no encoding per
 * request. Concurrent misses share one load; a revocation discards what is cached and any load
 * begun before it, so the answer after a 204 from `/v1/revoke` already lists the serial.
 */
export class CrlCache {
  readonly #ca: EnrollmentCa
  readonly #recheckMs: number
  readonly #entries = new Map<Scope, CachedCrl>()
  readonly #loading = new Map<Scope, Promise<CachedCrl>>()
  readonly #unsubscribe: (() => void) | undefined

  constructor (ca: EnrollmentCa & RevocationSource, options: { recheckMs?: number } = {}) {
    this.#ca = ca
    this.#recheckMs = options.recheckMs ?? CRL_RECHECK_MS
    this.#unsubscribe = typeof ca.onRevocationCrl === 'function' ? ca.onRevocationCrl(() => { this.invalidate() }) : undefined
  }

  /** Forgets every cached CRL and pending load. */
  invalidate (): void {
    this.#entries.clear()
    this.#loading.clear()
  }

  /** The CRL of `scope` at `now`: the cached one while fresh, else the CA's. */
  async get (scope: Scope, now: Date): Promise<CachedCrl> {
    const t = now.getTime()
    const hit = this.#entries.get(scope)
    // A clock that went back (t < checkedAt) asks again too.
    if (hit != null && t >= hit.checkedAt && t - hit.checkedAt < this.#recheckMs) { return hit }
    let pending = this.#loading.get(scope)
    if (pending == null) {
      const p: Promise<CachedCrl> = this.#load(scope, now).then(entry => {
        // Store only if no revocation came in meanwhile (it cleared #loading).
        if (this.#loading.get(scope) === p) { this.#entries.set(scope, entry) }
        return entry
      }).finally(() => {
        if (this.#loading.get(scope) === p) { this.#loading.delete(scope) }
      })
      pending = p
      this.#loading.set(scope, p)
    }
    return pending
  }

  /** Stops listening for revocations. */
  close (): void {
    this.#unsubscribe?.()
    this.invalidate()
  }

  async #load (scope: Scope, now: Date): Promise<CachedCrl> {
    const snapshot = await this.#ca.crl(now, scope)
    const d = snapshot.der
    // Reuse a previous entry's encodings when the CRL did not change (same strong tag).
    const prev = this.#entries.get(scope)
    if (prev?.snapshot.etag === snapshot.etag) { return { ...prev, snapshot, checkedAt: now.getTime() } }
    return {
      snapshot,
      der: Buffer.from(d.buffer, d.byteOffset, d.byteLength),
      pem: derToPem(d, 'X509 CRL'),
      derEtag: `"${snapshot.etag}"`,
      pemEtag: `"${snapshot.etag}.pem"`,
      checkedAt: now.getTime()
    }
  }
}
