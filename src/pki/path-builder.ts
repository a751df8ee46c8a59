import { algorithmError, checkAnchor, checkIntermediate, checkLeaf } from './cert-checks.ts'
import { ChainValidationError } from './chain-errors.ts'
import { checkRevocation } from './crl-checks.ts'
import { bytesEqual, verifySignature } from './signature.ts'
import type { Certificate } from './certificate.ts'
import type { ResolvedChainPolicy } from './chain-policy.ts'
import type { RevocationHost } from './crl-checks.ts'
import type { Crl } from './crl.ts'

/**
 * Path building (RFC 4158 style) from the leaf up to a trust anchor: depth-first over candidate
 * issuers matched by name and AKI/SKI, backtracking when a candidate fails, under a work budget
 * (candidates considered, signatures verified) so pathological bundles end in milliseconds.
 * Cheap checks run before signatures. When no path works, the error from the attempt that got
 * furthest is reported.
 */

/** A validated path: leaf first, anchor last. */
export interface VerifiedPath {
  path: Certificate[]
  anchor: Certificate
}

interface Attempt {
  progress: number
  error: ChainValidationError
}

export class PathBuilder implements RevocationHost {
  readonly now: number
  readonly policy: ResolvedChainPolicy
  readonly crlsByIssuer: Map<string, Crl[]>
  readonly crlInProgress = new Set<Crl>()
  readonly crlResults = new Map<string, ChainValidationError | null>()
  readonly #anchors: Certificate[]
  readonly #byName = new Map<string, Certificate[]>()
  readonly #sigResults = new Map<string, boolean>()
  #signatures = 0
  #candidates = 0

  constructor (now: number, anchors: Certificate[], intermediates: Certificate[], crls: Crl[], policy: ResolvedChainPolicy) {
    this.now = now
    this.policy = policy
    this.#anchors = anchors
    // Anchors first so that a path ends as early as it can (an anchor listed among the
    // intermediates too is the same certificate, kept once, as an anchor).
    const seen = new Set<string>()
    for (const c of [...anchors, ...intermediates]) {
      if (seen.has(c.fingerprint)) { continue }
      seen.add(c.fingerprint)
      const list = this.#byName.get(c.subject.key) ?? []
      list.push(c)
      this.#byName.set(c.subject.key, list)
    }
    this.crlsByIssuer = new Map()
    for (const crl of crls) {
      const list = this.crlsByIssuer.get(crl.issuer.key) ?? []
      list.push(crl)
      this.crlsByIssuer.set(crl.issuer.key, list)
    }
  }

  certsNamed (nameKey: string): Certificate[] {
    return this.#byName.get(nameKey) ?? []
  }

  /** Builds and validates a path from `leaf` to one of `anchors` (default: all); throws the best error. */
  build (leaf: Certificate, leafPolicy: ResolvedChainPolicy, anchors: Certificate[] = this.#anchors, crlDepth = 0): VerifiedPath {
    const leafError = checkLeaf(leaf, this.now, leafPolicy)
    if (leafError != null) { throw leafError }
    let best: Attempt | undefined
    const record = (progress: number, error: ChainValidationError): void => {
      if (best == null || progress > best.progress) { best = { progress, error } }
    }
    const p = this.policy
    const anchorSet = new Set(anchors)

    const dfs = (path: Certificate[]): VerifiedPath | undefined => {
      const cur = path[path.length - 1]
      const depth = path.length // the depth a candidate issuer would take
      const below = countNonSelfIssued(path)
      let considered = 0
      for (const c of this.certsNamed(cur.issuer.key)) {
        if (++this.#candidates > p.maxCandidates) { throw budgetError('candidate issuers', depth) }
        const akid = cur.authorityKeyIdentifier?.keyIdentifier
        if (akid != null && c.subjectKeyIdentifier != null && !bytesEqual(akid, c.subjectKeyIdentifier)) { continue }
        // Loop: the same logical CA (name and key) already in the path.
        if (path.some(x => x === c || (x.subject.key === c.subject.key && bytesEqual(x.spki, c.spki)))) { continue }
        const isAnchor = anchorSet.has(c)
        if (!isAnchor && this.#anchors.includes(c)) { continue } // an anchor outside the allowed set (CRL signer paths)
        considered++
        if (!isAnchor && (below + (c.selfIssued ? 0 : 1) > p.maxIntermediates || path.length + 1 > p.maxPathCertificates)) {
          record(depth + 1, new ChainValidationError('PATH_TOO_LONG', `more than ${p.maxIntermediates} intermediates`, { depth }))
          continue
        }
        const staticError = isAnchor ? checkAnchor(c, this.now, depth, p) : checkIntermediate(c, this.now, depth, p)
        if (staticError != null) {
          record(depth + 1, staticError)
          continue
        }
        const pathLen = c.basicConstraints?.pathLen
        if (pathLen !== undefined && below > pathLen) {
          record(depth + 1, new ChainValidationError('PATH_LEN_EXCEEDED', `CA at depth ${depth} allows ${pathLen} intermediates below it, path has ${below}`, { depth }))
          continue
        }
        const sigError = this.#checkSignature(cur, c, depth - 1)
        if (sigError != null) {
          record(depth + 1, sigError)
          continue
        }
        const next = [...path, c]
        if (isAnchor) {
          try {
            checkRevocation(this, next, crlDepth)
            return { path: next, anchor: c }
          } catch (e) {
            if (!(e instanceof ChainValidationError) || e.code === 'WORK_BUDGET_EXCEEDED') { throw e }
            record(depth + 2, e)
            continue
          }
        }
        const found = dfs(next)
        if (found != null) { return found }
      }
      if (considered === 0) { record(depth, new ChainValidationError('UNKNOWN_ISSUER', `no trusted issuer found for the certificate at depth ${depth - 1}`, { depth: depth - 1 })) }
      return undefined
    }

    const found = dfs([leaf])
    if (found != null) { return found }
    throw (best as Attempt | undefined)?.error ?? new ChainValidationError('UNKNOWN_ISSUER', 'no path to a trusted root', { depth: 0 })
  }

  validateSigner (signer: Certificate, anchor: Certificate, crlDepth: number): void {
    const signerPolicy: ResolvedChainPolicy = {
      ...this.policy,
      requiredEku: [],
      requireEku: false,
      acceptAnyEku: true,
      leafKeyUsage: ['cRLSign'],
      allowCaLeaf: true,
      expectedNodeId: undefined,
      expectedPeerId: undefined
    }
    // The signer may be the anchor itself (a root that signs CRLs with its own key).
    if (signer === anchor) { return }
    this.build(signer, signerPolicy, [anchor], crlDepth)
  }

  crlSignatureValid (crl: Crl, signer: Certificate): boolean {
    if (crl.signatureMalformed) { return false }
    return this.#verify(`crl:${crl.fingerprint}`, signer, () => {
      const key = signer.publicKey(this.policy.keyPolicy).keyObject
      return verifySignature(crl.signatureAlgorithm, key, crl.tbs, crl.signature, { allowSha1: this.policy.allowSha1 })
    }) === true
  }

  #checkSignature (child: Certificate, issuer: Certificate, depth: number): ChainValidationError | undefined {
    if (child.signatureMalformed) { return new ChainValidationError('BAD_SIGNATURE', `signature of the certificate at depth ${depth} is malformed`, { depth }) }
    const result = this.#verify(`crt:${child.fingerprint}`, issuer, () => {
      const key = issuer.publicKey(this.policy.keyPolicy).keyObject
      return verifySignature(child.signatureAlgorithm, key, child.tbs, child.signature, { allowSha1: this.policy.allowSha1 })
    })
    if (result === true) { return undefined }
    if (result === false) { return new ChainValidationError('BAD_SIGNATURE', `signature of the certificate at depth ${depth} does not verify`, { depth }) }
    return algorithmError(result, depth)
  }

  /** Runs one signature check under the budget, cached by (signed object, signer key). */
  #verify (what: string, signer: Certificate, run: () => boolean): boolean | Error {
    const key = `${what}|${signer.spkiSha256}`
    const cached = this.#sigResults.get(key)
    if (cached !== undefined) { return cached }
    if (++this.#signatures > this.policy.maxSignatureChecks) { throw budgetError('signature checks', 0) }
    let ok: boolean
    try {
      ok = run()
    } catch (e) {
      return e as Error
    }
    this.#sigResults.set(key, ok)
    return ok
  }
}

function budgetError (what: string, depth: number): ChainValidationError {
  return new ChainValidationError('WORK_BUDGET_EXCEEDED', `path building exceeded its budget of ${what}`, { depth })
}

/** Intermediates in path[1..] that are not self-issued (RFC 5280 §6.1.4 (l)). */
function countNonSelfIssued (path: Certificate[]): number {
  let n = 0
  for (let i = 1; i < path.length; i++) { if (!path[i].selfIssued) { n++ } }
  return n
}
