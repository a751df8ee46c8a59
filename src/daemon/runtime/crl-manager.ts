import { crlRevocationPredicate, crlSource } from '../../../protocols/crl-gossip/revocation-predicate.ts'
import { ChainValidationError } from '../../pki/chain-errors.ts'
import { parseCrl } from '../../pki/crl.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { RevocationReport } from '../../node/revocation.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { ChainVerifier } from '../../pki/chain-verifier.ts'
import type { Crl } from '../../pki/crl.ts'
import type { CrlStateStore } from '../../store/crl-state.ts'

/** Where a CRL came from (the same names as the CRL gossip service uses). */
export type CrlOrigin = 'fetch' | 'local' | 'gossip' | 'push'

/** A CRL the node installed: what `onCrl` hooks receive. */
export interface CrlEvent {
  crl: Crl
  crlNumber: bigint
  /** The number held before, if any. */
  previousNumber?: bigint
  /** Serials (hex) this CRL revoked that were not revoked before. */
  newlyRevoked: string[]
  source: CrlOrigin
  /** What the enforcement point did (connections closed, peers expelled). */
  report?: RevocationReport
}

export type CrlOfferResult =
  | { status: 'installed', event: CrlEvent }
  /** The same CRL number we hold: nothing to do (the ETag, if any, is refreshed). */
  | { status: 'unchanged', crlNumber: bigint }
  /** An older number than we hold: refused, revocation never rolls back. */
  | { status: 'stale', crlNumber: bigint, held: bigint }

export type CrlHook = (event: CrlEvent) => void | Promise<void>

export interface CrlManagerInit {
  verifier: ChainVerifier
  store: CrlStateStore
  /** CA certificates that may issue peers' certificates (root and chain): they map a CRL to peers. A function is read per CRL (CA rotation). */
  caCertificates: Certificate[] | (() => Certificate[])
  now(): number
  /** Errors of hooks land here; they never undo an install. */
  onHookError?(err: unknown): void
}

/**
 * The node's CRL state machine, one per node process: verify and install a CRL in the
 * ChainVerifier (newer numbers only), persist it, hand it to the node's revocation enforcement
 * point (`MeshNode.applyRevocation`: close live connections to revoked peers, block redials), then
 * tell the `onCrl` hooks. The HTTP poller feeds `offer`; the gossip and push paths, which install
 * in the same ChainVerifier themselves, call `accepted`.
 */
export class CrlManager {
  private readonly init: CrlManagerInit
  private readonly hooks = new Set<CrlHook>()
  private readonly etags = new Map<string, string>()
  private node: MeshNode | undefined

  constructor (init: CrlManagerInit) {
    this.init = init
  }

  /** The node whose connections CRLs are enforced on; CRLs installed before are enforced now. */
  async attach (node: MeshNode): Promise<void> {
    this.node = node
    for (const crl of this.init.verifier.crls) { await this.enforce(crl) }
  }

  /** Registers a hook called after every install; returns its remover. */
  onCrl (hook: CrlHook): () => void {
    this.hooks.add(hook)
    return () => { this.hooks.delete(hook) }
  }

  /** The ETag of the CRL held from `url`, if any. */
  etagFor (url: string): string | undefined {
    return this.etags.get(url)
  }

  /** The newest CRL number installed, over all issuers. */
  get newestNumber (): bigint | undefined {
    let max: bigint | undefined
    for (const c of this.init.verifier.crls) { if (c.crlNumber != null && (max == null || c.crlNumber > max)) { max = c.crlNumber } }
    return max
  }

  /** Installs the persisted CRLs at start; one that no longer verifies (CA changed) is skipped and returned. */
  async loadPersisted (): Promise<{ loaded: number, skipped: Array<{ issuerKey: string, error: unknown }> }> {
    const skipped: Array<{ issuerKey: string, error: unknown }> = []
    let loaded = 0
    for (const stored of await this.init.store.list()) {
      try {
        const r = await this.offer(stored.der, { source: 'local', ...(stored.url != null ? { url: stored.url } : {}), ...(stored.etag != null ? { etag: stored.etag } : {}), persist: false })
        if (r.status === 'installed') { loaded++ }
      } catch (error) {
        skipped.push({ issuerKey: stored.issuerKey, error })
      }
    }
    return { loaded, skipped }
  }

  /**
   * Verifies and installs `input` if it is newer than what we hold for its issuer. Throws
   * ChainValidationError (CRL_INVALID, UNKNOWN_ISSUER, CRL_BAD_SIGNATURE, ...) for a CRL the
   * mesh CA did not sign; nothing changes then.
   */
  async offer (input: Uint8Array | Crl, opts: { source: CrlOrigin, url?: string, etag?: string, persist?: boolean }): Promise<CrlOfferResult> {
    const crl = input instanceof Uint8Array ? parseOrThrow(input) : input
    const now = new Date(this.init.now())
    const held = this.init.verifier.crlNumber(crl.issuer.key)
    if (held != null && crl.crlNumber != null && crl.crlNumber <= held) {
      if (crl.crlNumber < held) { return { status: 'stale', crlNumber: crl.crlNumber, held } }
      // Same number: check it is the CA's before we let it refresh the ETag.
      this.init.verifier.checkCrlSigner(crl, now)
      if (opts.url != null && opts.etag != null && opts.persist !== false) {
        await this.persist(crl, opts.url, opts.etag)
      }
      return { status: 'unchanged', crlNumber: crl.crlNumber }
    }
    const result = this.init.verifier.installCrl(crl, now)
    if (opts.persist !== false) { await this.persist(crl, opts.url, opts.etag) } else if (opts.url != null && opts.etag != null) { this.etags.set(opts.url, opts.etag) }
    const event: CrlEvent = {
      crl,
      crlNumber: result.crlNumber,
      ...(held != null ? { previousNumber: held } : {}),
      newlyRevoked: result.newlyRevoked,
      source: opts.source
    }
    await this.settle(event)
    return { status: 'installed', event }
  }

  /** For CRLs another component already installed in the verifier (gossip, push): persist, enforce, notify. */
  async accepted (event: Omit<CrlEvent, 'report'>): Promise<void> {
    await this.persist(event.crl)
    await this.settle({ ...event })
  }

  private async settle (event: CrlEvent): Promise<void> {
    const report = await this.enforce(event.crl)
    if (report != null) { event.report = report }
    for (const hook of this.hooks) {
      try {
        await hook(event)
      } catch (err) {
        this.init.onHookError?.(err)
      }
    }
  }

  private async enforce (crl: Crl): Promise<RevocationReport | undefined> {
    if (this.node == null) { return undefined }
    const cas = typeof this.init.caCertificates === 'function' ? this.init.caCertificates() : this.init.caCertificates
    return this.node.applyRevocation(crlRevocationPredicate(crl, cas), { source: crlSource(crl) })
  }

  private async persist (crl: Crl, url?: string, etag?: string): Promise<void> {
    if (crl.crlNumber == null) { return }
    if (url != null && etag != null) { this.etags.set(url, etag) }
    await this.init.store.put({
      der: crl.der,
      crlNumber: crl.crlNumber,
      issuerKey: crl.issuer.key,
      storedAt: this.init.now(),
      ...(url != null ? { url } : {}),
      ...(etag != null ? { etag } : {})
    })
  }
}

function parseOrThrow (der: Uint8Array): Crl {
  try {
    return parseCrl(der)
  } catch (err) {
    throw new ChainValidationError('CRL_INVALID', `CRL cannot be parsed: ${(err as Error).message}`, { cause: err })
  }
}
