import { ChainValidationError } from './chain-errors.ts'
import { bytesEqual } from './signature.ts'
import type { Certificate } from './certificate.ts'
import type { ChainErrorCode } from './chain-errors.ts'
import type { ResolvedChainPolicy } from './chain-policy.ts'
import type { Crl } from './crl.ts'

/**
 * Revocation checking of a built path against CRLs (RFC 5280 §6.3, the parts the mesh uses):
 * complete CRLs only, matched to a certificate by its issuer NAME and its SERIAL, never by a hash
 * of the certificate (a re-encoded or re-signed copy stays revoked). The CRL must be signed by a
 * key of that issuer whose certificate allows cRLSign and chains to the same trust anchor.
 */

/** How deep CRL-signer validation may recurse (signer of the CRL that covers a CRL signer ...). */
const MAX_CRL_DEPTH = 2

/** What the revocation check needs from the path builder. */
export interface RevocationHost {
  readonly now: number
  readonly policy: ResolvedChainPolicy
  readonly crlsByIssuer: ReadonlyMap<string, Crl[]>
  /** CRLs whose signer is being validated right now (breaks self-referential signer loops). */
  readonly crlInProgress: Set<Crl>
  /** Results of CRL validation for (crl, issuer, anchor). */
  readonly crlResults: Map<string, ChainValidationError | null>
  /** Certificates (anchors, intermediates) whose subject is `nameKey`. */
  certsNamed(nameKey: string): Certificate[]
  /** Budgeted, cached signature check of a CRL by a certificate's key. */
  crlSignatureValid(crl: Crl, signer: Certificate): boolean
  /** Validates a CRL signer's own certificate up to `anchor`; throws ChainValidationError. */
  validateSigner(signer: Certificate, anchor: Certificate, crlDepth: number): void
}

function err (code: ChainErrorCode, message: string, depth: number, cause?: unknown): ChainValidationError {
  return new ChainValidationError(code, message, { depth, cause })
}

/** Throws ChainValidationError if a certificate in `path` (leaf first, anchor last) is revoked or lacks required CRLs. */
export function checkRevocation (host: RevocationHost, path: Certificate[], crlDepth: number): void {
  const anchor = path[path.length - 1]
  const p = host.policy
  for (let i = 0; i < path.length - 1; i++) {
    const cert = path[i]
    const crls = host.crlsByIssuer.get(cert.issuer.key) ?? []
    if (crls.length === 0) {
      if (p.requireRevocationInfo) { throw err('CRL_MISSING', `no CRL from the issuer of the certificate at depth ${i}`, i) }
      continue
    }
    const usable: Crl[] = []
    let firstError: ChainValidationError | undefined
    for (const crl of crls) {
      const e = validateCrl(host, crl, path[i + 1], anchor, i, crlDepth)
      if (e == null) { usable.push(crl) } else { firstError ??= e }
    }
    // A CRL for this issuer exists but none can be trusted: fail closed rather than ignore it.
    if (usable.length === 0 && firstError != null) { throw firstError }
    for (const crl of usable) {
      if (crl.revoked.has(cert.serialHex)) {
        const entry = crl.revoked.get(cert.serialHex)
        throw err('REVOKED', `certificate at depth ${i} (serial ${cert.serialHex}) is revoked (${entry?.reason ?? 'unspecified'})`, i)
      }
    }
    if (p.requireRevocationInfo) {
      const freshness = usable.map(c => crlFreshness(c, host.now, p.crlGraceMs))
      if (!freshness.includes('fresh')) {
        const code = freshness.includes('stale') ? 'CRL_EXPIRED' : 'CRL_NOT_YET_VALID'
        throw err(code, `no fresh CRL from the issuer of the certificate at depth ${i}`, i)
      }
    }
  }
}

/** 'fresh' when thisUpdate <= now <= nextUpdate + grace; a CRL without nextUpdate is never fresh. */
export function crlFreshness (crl: Crl, now: number, graceMs: number): 'fresh' | 'stale' | 'future' {
  if (crl.thisUpdate > now) { return 'future' }
  if (crl.nextUpdate == null || now > crl.nextUpdate + graceMs) { return 'stale' }
  return 'fresh'
}

/** Shape rules for a CRL the mesh may use; independent of who signed it. */
export function crlShapeError (crl: Crl, p: ResolvedChainPolicy, depth: number): ChainValidationError | undefined {
  if (crl.unknownCriticalExtensions.length > 0) { return err('CRL_INVALID', `CRL has unknown critical extension ${crl.unknownCriticalExtensions[0]}`, depth) }
  if (crl.unknownCriticalEntryExtension) { return err('CRL_INVALID', 'CRL entry has an unknown critical extension', depth) }
  if (crl.deltaCrlIndicator != null) { return err('CRL_INVALID', 'delta CRLs are not supported', depth) }
  if (crl.hasIssuingDistributionPoint) { return err('CRL_INVALID', 'CRLs with an issuingDistributionPoint are not supported', depth) }
  if (crl.crlNumberCritical) { return err('CRL_INVALID', 'cRLNumber must not be critical', depth) }
  if (p.requireCrlNumber && crl.crlNumber == null) { return err('CRL_INVALID', 'CRL lacks cRLNumber', depth) }
  if (!bytesEqual(crl.tbsSignatureAlgorithm.der, crl.signatureAlgorithm.der)) {
    return err('CRL_INVALID', 'CRL signature algorithm inside and outside the TBS differ', depth)
  }
}

function validateCrl (host: RevocationHost, crl: Crl, issuer: Certificate, anchor: Certificate, depth: number, crlDepth: number): ChainValidationError | undefined {
  const shape = crlShapeError(crl, host.policy, depth)
  if (shape != null) { return shape }
  // The signer of this CRL is being validated further up the stack: the signature was already
  // checked there, and its outcome decides. Using the CRL here only to look up the signer's own
  // serial is what breaks the loop (PKITS 4.5.6: a CRL key certified by its CA, covered by its own CRL).
  if (host.crlInProgress.has(crl)) { return undefined }
  const cacheKey = `${crl.fingerprint}|${issuer.fingerprint}|${anchor.fingerprint}`
  const cached = host.crlResults.get(cacheKey)
  if (cached !== undefined) { return cached ?? undefined }
  const result = findCrlSigner(host, crl, issuer, anchor, depth, crlDepth)
  host.crlResults.set(cacheKey, result ?? null)
  return result
}

function findCrlSigner (host: RevocationHost, crl: Crl, issuer: Certificate, anchor: Certificate, depth: number, crlDepth: number): ChainValidationError | undefined {
  const akid = crl.authorityKeyIdentifier?.keyIdentifier
  // The certificate's own issuer first; then other certificates of the same name (separate CRL keys, key rollover).
  const candidates = [issuer, ...host.certsNamed(crl.issuer.key).filter(c => c !== issuer && c.fingerprint !== issuer.fingerprint)]
  let noCrlSign: ChainValidationError | undefined
  let signerError: ChainValidationError | undefined
  for (const signer of candidates) {
    if (akid != null && signer.subjectKeyIdentifier != null && !bytesEqual(akid, signer.subjectKeyIdentifier)) { continue }
    if (!host.crlSignatureValid(crl, signer)) { continue }
    if (signer.keyUsage != null && !signer.keyUsage.has('cRLSign')) {
      noCrlSign ??= err('CRL_NO_CRL_SIGN', 'the CRL is signed by a key whose certificate lacks cRLSign', depth)
      continue
    }
    if (signer === issuer) { return undefined }
    if (crlDepth >= MAX_CRL_DEPTH) { continue }
    host.crlInProgress.add(crl)
    try {
      host.validateSigner(signer, anchor, crlDepth + 1)
      return undefined
    } catch (e) {
      if (e instanceof ChainValidationError && e.code === 'WORK_BUDGET_EXCEEDED') { throw e }
      signerError ??= err(e instanceof ChainValidationError && e.code === 'REVOKED' ? 'REVOKED' : 'CRL_BAD_SIGNATURE',
        `the CRL signer's certificate is not valid: ${(e as Error).message}`, depth, e)
    } finally {
      host.crlInProgress.delete(crl)
    }
  }
  return noCrlSign ?? signerError ?? err('CRL_BAD_SIGNATURE', 'no key of the CRL issuer verifies the CRL', depth)
}
