import { hash } from 'node:crypto'
import { Certificate, nodeIdentity, NodeIdentityError, parseCertificate } from './certificate.ts'
import { ChainValidationError } from './chain-errors.ts'
import { resolvePolicy } from './chain-policy.ts'
import { crlFreshness, crlShapeError } from './crl-checks.ts'
import { parseCrl } from './crl.ts'
import { bytesEqual, verifySignature } from './signature.ts'
import { verifyChain } from './verify-chain.ts'
import type { ChainPolicy, ResolvedChainPolicy } from './chain-policy.ts'
import type { Crl } from './crl.ts'
import type { VerifiedPath } from './verify-chain.ts'

/**
 * The hot-path chain checker. A full verifyChain runs once per distinct (leaf, chain); after that
 * a hit costs a hash of the input bytes, a map lookup, the validity window and a revocation Set
 * lookup per certificate. Revocation is held as a Set of issuer-name + serial, built from CRLs
 * that were verified once when installed, so a re-encoded copy of a revoked certificate (another
 * fingerprint, e.g. a high-S twin of its signature) misses the cache, is verified cold, and is
 * still found revoked by its issuer and serial.
 */

export interface ChainVerifierInit {
  /** Trusted roots (several at once during CA rotation). */
  roots: Array<Uint8Array | Certificate>
  /** Known CA certificates (the issuing CA chain): they complete peers' chains and verify CRLs. */
  intermediates?: Array<Uint8Array | Certificate>
  /** Chain policy; revocation requirements apply to the CRLs installed here. @default DEFAULT_MESH_POLICY */
  policy?: ChainPolicy
  /** Verified results kept; the oldest is evicted beyond this. @default 10000 (about 2 MB) */
  maxCacheEntries?: number
}

/** Names a caller expects the leaf to carry (checked on every call, hit or miss). */
export interface ExpectedIdentity {
  nodeId?: string
  peerId?: string
}

export interface CrlInstallResult {
  /** The CRL issuer's name, human-readable. */
  issuer: string
  crlNumber: bigint
  /** serialHex of certificates this CRL revoked that were not revoked before. */
  newlyRevoked: string[]
}

interface CacheEntry {
  result: VerifiedPath
  /** Intersection of the path's validity windows. */
  notBefore: number
  notAfter: number
  /** issuer-name + serial of every certificate below the anchor. */
  revocationKeys: string[]
  /** Issuer name keys of every certificate below the anchor (for CRL freshness). */
  issuerKeys: string[]
  /** CRL epoch the revocation keys were last checked against. */
  epoch: number
}

interface HeldCrl {
  crl: Crl
  crlNumber: bigint
}

export class ChainVerifier {
  #roots: Certificate[]
  #intermediates: Certificate[]
  readonly #policy: ResolvedChainPolicy
  readonly #maxEntries: number
  readonly #cache = new Map<string, CacheEntry>()
  readonly #crls = new Map<string, HeldCrl>()
  readonly #revoked = new Set<string>()
  /** Bumped on every CRL install; cache entries re-check revocation when theirs is older. */
  #epoch = 0

  constructor (init: ChainVerifierInit) {
    this.#roots = init.roots.map(toCertificate)
    this.#intermediates = (init.intermediates ?? []).map(toCertificate)
    this.#policy = resolvePolicy(init.policy)
    this.#maxEntries = init.maxCacheEntries ?? 10_000
  }

  /** Verifies `leaf` with the peer-supplied `chain` at `now`; returns the path or throws ChainValidationError. */
  verify (now: Date, leaf: Uint8Array | Certificate, chain: Array<Uint8Array | Certificate> = [], expected?: ExpectedIdentity): VerifiedPath {
    const t = Math.floor(now.getTime() / 1000) * 1000
    let key = fingerprint(leaf)
    for (const c of chain) { key += ':' + fingerprint(c) }
    const hit = this.#cache.get(key)
    if (hit != null && this.#stillValid(hit, t)) {
      checkExpected(hit.result.path[0], expected)
      return hit.result
    }
    // Miss, or a hit that no longer holds: the cold path recomputes and throws the precise error.
    this.#cache.delete(key)
    const result = verifyChain(now, leaf, [...chain, ...this.#intermediates], this.#roots, [], { ...this.#policy, requireRevocationInfo: false })
    const entry = this.#entryFor(result)
    this.#checkRevocation(entry, t)
    checkExpected(result.path[0], expected)
    if (this.#cache.size >= this.#maxEntries) {
      const oldest = this.#cache.keys().next()
      if (oldest.done !== true) { this.#cache.delete(oldest.value) }
    }
    this.#cache.set(key, entry)
    return result
  }

  /**
   * Replaces the trust anchors, and the known CA certificates when given (CA rotation: a
   * CA-signed trust-bundle notice added a root, or retired one). The cache is cleared, so every
   * chain is checked against the new set on its next use; a chain that ends at a retired root is
   * refused from now on. Held CRLs and revocations stay (a CRL whose issuer is no longer known is
   * simply never consulted).
   */
  setTrust (trust: { roots: Array<Uint8Array | Certificate>, intermediates?: Array<Uint8Array | Certificate> }): void {
    const roots = trust.roots.map(toCertificate)
    if (roots.length === 0) { throw new ChainValidationError('UNKNOWN_ISSUER', 'a trust set needs at least one root') }
    this.#roots = roots
    if (trust.intermediates != null) { this.#intermediates = trust.intermediates.map(toCertificate) }
    this.#cache.clear()
    this.#epoch++
  }

  /** The trust anchors now in force. */
  get roots (): Certificate[] {
    return [...this.#roots]
  }

  /** The CA certificates known besides the roots. */
  get intermediates (): Certificate[] {
    return [...this.#intermediates]
  }

  /**
   * Installs a CA-signed CRL. Refuses one whose cRLNumber is not above the number held for its
   * issuer (CRL_NUMBER_REPLAYED): an old CRL can never un-revoke. Revocations accumulate.
   */
  installCrl (input: Uint8Array | Crl, now: Date): CrlInstallResult {
    let crl: Crl
    try {
      crl = input instanceof Uint8Array ? parseCrl(input) : input
    } catch (err) {
      throw new ChainValidationError('CRL_INVALID', `CRL cannot be parsed: ${(err as Error).message}`, { cause: err })
    }
    const shape = crlShapeError(crl, this.#policy, 0)
    if (shape != null) { throw shape }
    // Replay protection needs a number, whatever the policy says about CRLs in general.
    if (crl.crlNumber == null) { throw new ChainValidationError('CRL_INVALID', 'CRL lacks cRLNumber') }
    const held = this.#crls.get(crl.issuer.key)
    if (held != null && crl.crlNumber <= held.crlNumber) {
      throw new ChainValidationError('CRL_NUMBER_REPLAYED', `CRL number ${crl.crlNumber} is not above the held ${held.crlNumber}`)
    }
    this.#verifyCrlSigner(crl, now)
    const newlyRevoked: string[] = []
    for (const serialHex of crl.revoked.keys()) {
      const k = revocationKey(crl.issuer.key, serialHex)
      if (!this.#revoked.has(k)) {
        this.#revoked.add(k)
        newlyRevoked.push(serialHex)
      }
    }
    this.#crls.set(crl.issuer.key, { crl, crlNumber: crl.crlNumber })
    this.#epoch++
    return { issuer: crl.issuer.text, crlNumber: crl.crlNumber, newlyRevoked }
  }

  /**
   * Checks, without installing anything, that a known CA of the CRL's issuer name with cRLSign and
   * a path to a root signed `crl` (what installCrl checks); throws ChainValidationError
   * (UNKNOWN_ISSUER, CRL_BAD_SIGNATURE, CRL_NO_CRL_SIGN). For gossip validators that must decide
   * before they apply.
   */
  checkCrlSigner (crl: Crl, now: Date): void {
    this.#verifyCrlSigner(crl, now)
  }

  /** True when an installed CRL revoked this certificate (by issuer name and serial). */
  isRevoked (cert: Certificate): boolean {
    return this.#revoked.has(revocationKey(cert.issuer.key, cert.serialHex))
  }

  /** The CRL number held for an issuer name key (`cert.issuer.key`), if any. */
  crlNumber (issuerKey: string): bigint | undefined {
    return this.#crls.get(issuerKey)?.crlNumber
  }

  /** The newest CRL held per issuer (to serve or gossip onwards). */
  get crls (): Crl[] {
    return [...this.#crls.values()].map(h => h.crl)
  }

  /** The trust anchors and known CA certificates: what maps a CRL's issuer name to certificates. */
  get authorities (): Certificate[] {
    return [...this.#roots, ...this.#intermediates]
  }

  get cacheSize (): number {
    return this.#cache.size
  }

  clearCache (): void {
    this.#cache.clear()
  }

  #stillValid (e: CacheEntry, t: number): boolean {
    if (t < e.notBefore || t > e.notAfter) { return false }
    if (e.epoch !== this.#epoch) {
      if (e.revocationKeys.some(k => this.#revoked.has(k))) { return false }
      e.epoch = this.#epoch
    }
    if (this.#policy.requireRevocationInfo) {
      for (const issuer of e.issuerKeys) {
        const held = this.#crls.get(issuer)
        if (held == null || crlFreshness(held.crl, t, this.#policy.crlGraceMs) !== 'fresh') { return false }
      }
    }
    return true
  }

  #entryFor (result: VerifiedPath): CacheEntry {
    const below = result.path.slice(0, -1)
    return {
      result,
      notBefore: Math.max(...result.path.map(c => c.notBefore)),
      notAfter: Math.min(...result.path.map(c => c.notAfter)),
      revocationKeys: below.map(c => revocationKey(c.issuer.key, c.serialHex)),
      issuerKeys: below.map(c => c.issuer.key),
      epoch: this.#epoch
    }
  }

  #checkRevocation (e: CacheEntry, t: number): void {
    for (let i = 0; i < e.revocationKeys.length; i++) {
      if (this.#revoked.has(e.revocationKeys[i])) {
        throw new ChainValidationError('REVOKED', `certificate at depth ${i} is revoked`, { depth: i })
      }
    }
    if (!this.#policy.requireRevocationInfo) { return }
    for (let i = 0; i < e.issuerKeys.length; i++) {
      const held = this.#crls.get(e.issuerKeys[i])
      if (held == null) { throw new ChainValidationError('CRL_MISSING', `no CRL held for the issuer of the certificate at depth ${i}`, { depth: i }) }
      const f = crlFreshness(held.crl, t, this.#policy.crlGraceMs)
      if (f !== 'fresh') { throw new ChainValidationError(f === 'stale' ? 'CRL_EXPIRED' : 'CRL_NOT_YET_VALID', `CRL for depth ${i} is not fresh`, { depth: i }) }
    }
  }

  /** The CRL must be signed by a known CA of its issuer name that has cRLSign and chains to a root. */
  #verifyCrlSigner (crl: Crl, now: Date): void {
    const akid = crl.authorityKeyIdentifier?.keyIdentifier
    const candidates = [...this.#roots, ...this.#intermediates].filter(c => c.subject.key === crl.issuer.key &&
      (akid == null || c.subjectKeyIdentifier == null || bytesEqual(akid, c.subjectKeyIdentifier)))
    if (candidates.length === 0) { throw new ChainValidationError('UNKNOWN_ISSUER', `no known CA named ${crl.issuer.text} to verify the CRL`) }
    let failure = new ChainValidationError('CRL_BAD_SIGNATURE', 'no key of the CRL issuer verifies the CRL')
    for (const signer of candidates) {
      let ok = false
      try {
        ok = !crl.signatureMalformed && verifySignature(crl.signatureAlgorithm, signer.publicKey(this.#policy.keyPolicy).keyObject, crl.tbs, crl.signature, { allowSha1: this.#policy.allowSha1 })
      } catch {}
      if (!ok) { continue }
      if (signer.keyUsage != null && !signer.keyUsage.has('cRLSign')) {
        failure = new ChainValidationError('CRL_NO_CRL_SIGN', 'the CRL is signed by a key whose certificate lacks cRLSign')
        continue
      }
      if (this.#roots.includes(signer)) { return }
      verifyChain(now, signer, this.#intermediates, this.#roots, [], {
        ...this.#policy,
        requiredEku: [],
        requireEku: false,
        leafKeyUsage: ['cRLSign'],
        allowCaLeaf: true,
        requireRevocationInfo: false,
        expectedNodeId: undefined,
        expectedPeerId: undefined
      })
      return
    }
    throw failure
  }
}

function revocationKey (issuerKey: string, serialHex: string): string {
  return `${issuerKey}\n${serialHex}`
}

function fingerprint (c: Uint8Array | Certificate): string {
  // One-shot hash: on a warm cache this is most of a chain check, once per certificate per message.
  return c instanceof Certificate ? c.fingerprint : hash('sha256', c, 'hex')
}

function toCertificate (c: Uint8Array | Certificate): Certificate {
  return c instanceof Certificate ? c : parseCertificate(c)
}

function checkExpected (leaf: Certificate, expected?: ExpectedIdentity): void {
  if (expected?.nodeId == null && expected?.peerId == null) { return }
  try {
    const id = nodeIdentity(leaf)
    if (expected.nodeId != null && id.nodeId !== expected.nodeId) { throw new ChainValidationError('NAME_MISMATCH', 'leaf node_id differs from the expected one') }
    if (expected.peerId != null && id.peerId !== expected.peerId) { throw new ChainValidationError('NAME_MISMATCH', 'leaf PeerId differs from the expected one') }
  } catch (err) {
    if (err instanceof NodeIdentityError) { throw new ChainValidationError('NAME_MISMATCH', err.message, { cause: err }) }
    throw err
  }
}
