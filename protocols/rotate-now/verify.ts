import { parseCertificate } from '../../src/pki/certificate.ts'
import { verifyChain } from '../../src/pki/verify-chain.ts'
import { verifyTranscriptSignature } from '../auth/transcript.ts'
import { signedBytes } from './codec.ts'
import { MAX_SKEW_MS, MAX_TTL_MS } from './constants.ts'
import { NoticeError } from './errors.ts'
import type { DecodedNotice, NoticeBody } from './codec.ts'
import type { Certificate } from '../../src/pki/certificate.ts'
import type { ChainPolicy } from '../../src/pki/chain-policy.ts'

/** What a node trusts now: the verifier reads it on every notice, so a trust change counts at once. */
export interface NoticeTrust {
  roots: Certificate[]
  /** Known CA certificates (issuing CAs) that complete a signer's path. */
  intermediates: Certificate[]
  /** True when a CA certificate on the signer's path is revoked by the node's CRLs. */
  isRevoked?(cert: Certificate): boolean
}

/** A notice that a trusted CA signed, with its parsed trust-bundle contents. */
export interface VerifiedNotice {
  notice: NoticeBody
  signer: Certificate
  /** For a trust bundle: the roots and issuing CAs it names, parsed and checked. */
  bundle?: { roots: Certificate[], cas: Certificate[] }
}

/** A CA certificate as the signer of a notice: no EKU (CAs carry none), keyCertSign like any issuer. */
const SIGNER_POLICY: ChainPolicy = {
  requiredEku: [],
  requireEku: false,
  leafKeyUsage: ['keyCertSign'],
  allowCaLeaf: true,
  requireRevocationInfo: false
}

/**
 * Decides whether a decoded notice comes from the mesh CA, as a pure function of the clock and
 * the node's trust (Nebula `handshake/machine.go` style): cheap checks first, the signature last.
 * Throws NoticeError; its `action` says whether a gossip validator rejects or ignores.
 * Rotate-now notices may be signed by any CA certificate that chains to a trusted root (the
 * issuing CA, in practice); trust bundles only by a trusted root itself, since they change what
 * the node trusts and an issuing-CA key is the more exposed one.
 */
export function verifyNotice (now: number, n: DecodedNotice, trust: NoticeTrust): VerifiedNotice {
  const body = n.notice
  // [IGNORE] past its expiry
  if (now > body.exp) { throw new NoticeError('EXPIRED', 'notice expired') }
  // [IGNORE] issued further in the future than clocks disagree
  if (body.iat > now + MAX_SKEW_MS) { throw new NoticeError('NOT_YET_VALID', 'notice issued in the future') }
  // [REJECT] a lifetime no CA hands out
  if (body.exp - body.iat > MAX_TTL_MS) { throw new NoticeError('LIFETIME_TOO_LONG', 'notice lives longer than allowed') }
  let signer: Certificate
  let rest: Certificate[]
  try {
    [signer, ...rest] = n.signer.map(parseCertificate)
  } catch (err) {
    throw new NoticeError('MALFORMED', 'signer certificate does not parse', { cause: err })
  }
  const trustedRoot = trust.roots.some(r => r.fingerprint === signer.fingerprint)
  // [REJECT] a trust bundle not signed by a root trusted now
  if (body.kind === 'trust-bundle' && !trustedRoot) { throw new NoticeError('NOT_ROOT_SIGNED', 'a trust bundle must be signed by a trusted root') }
  if (!trustedRoot) {
    // [REJECT] the signer is no CA under a trusted root, or is revoked
    let path: Certificate[]
    try {
      path = verifyChain(new Date(now), signer, [...rest, ...trust.intermediates], trust.roots, [], SIGNER_POLICY).path
    } catch (err) {
      throw new NoticeError('UNTRUSTED_SIGNER', 'the signer does not chain to a trusted root', { cause: err })
    }
    if (path.slice(0, -1).some(c => trust.isRevoked?.(c) === true)) { throw new NoticeError('UNTRUSTED_SIGNER', 'the signer is revoked') }
  }
  const bundle = body.kind === 'trust-bundle' ? checkBundle(now, body) : undefined
  // [REJECT] the signature does not verify (last: the costly check)
  if (!verifyTranscriptSignature(signer.spki, signedBytes(n.body), n.sig)) { throw new NoticeError('BAD_SIGNATURE', 'notice signature does not verify') }
  return { notice: body, signer, ...(bundle != null ? { bundle } : {}) }
}

/** A bundle's roots are self-signed CAs valid now; each issuing CA chains to one of them. */
function checkBundle (now: number, body: NoticeBody): { roots: Certificate[], cas: Certificate[] } {
  try {
    const roots = (body.roots ?? []).map(parseCertificate)
    const cas = (body.cas ?? []).map(parseCertificate)
    for (const r of roots) {
      if (r.basicConstraints?.ca !== true || r.subject.key !== r.issuer.key) { throw new Error('a bundle root is not a self-signed CA') }
      if (now < r.notBefore || now > r.notAfter) { throw new Error('a bundle root is not valid now') }
    }
    const rootPrints = new Set(roots.map(r => r.fingerprint))
    const below = cas.filter(c => !rootPrints.has(c.fingerprint))
    for (const c of below) { verifyChain(new Date(now), c, below, roots, [], SIGNER_POLICY) }
    return { roots, cas: below }
  } catch (err) {
    throw new NoticeError('MALFORMED', `trust bundle contents refused: ${(err as Error).message}`, { cause: err })
  }
}
