import { ChainValidationError } from './chain-errors.ts'
import { KeyPolicyError } from './key-policy.ts'
import { nodeIdentity, NodeIdentityError } from './node-identity.ts'
import { bytesEqual, signatureAlgorithm, SignatureAlgorithmError } from './signature.ts'
import { EKU, EXT } from './x509-extensions.ts'
import type { Certificate } from './certificate.ts'
import type { ResolvedChainPolicy } from './chain-policy.ts'

/**
 * Checks on one certificate that do not depend on the rest of the path. Each returns the error
 * instead of throwing, so the path builder can record it and try another candidate.
 */

/** Extensions whose semantics we implement, so they may be critical. certificatePolicies: see below. */
const PROCESSED = new Set<string>([
  EXT.BASIC_CONSTRAINTS, EXT.KEY_USAGE, EXT.EXT_KEY_USAGE, EXT.SUBJECT_ALT_NAME,
  // The mesh sets no initial policy and never requires explicit policy, so RFC 5280 §6.1 with
  // initial-policy-set = {anyPolicy} accepts any certificatePolicies content: treating it as
  // processed is the outcome of that algorithm. policyConstraints, policyMappings,
  // inhibitAnyPolicy and nameConstraints are NOT processed and fail closed when critical.
  EXT.CERTIFICATE_POLICIES
])
/** RFC 5280 says these MUST be non-critical; critical ones mark a broken certificate. */
const MUST_BE_NON_CRITICAL = new Set<string>([EXT.AUTHORITY_KEY_IDENTIFIER, EXT.SUBJECT_KEY_IDENTIFIER, EXT.AUTHORITY_INFO_ACCESS])

type Check = ChainValidationError | undefined

function fail (code: ConstructorParameters<typeof ChainValidationError>[0], message: string, depth: number, cause?: unknown): ChainValidationError {
  return new ChainValidationError(code, message, { depth, cause })
}

/** Validity window, bounds inclusive; `now` is already truncated to whole seconds. */
export function checkValidity (cert: Certificate, now: number, depth: number): Check {
  if (now < cert.notBefore) { return fail('NOT_YET_VALID', `certificate at depth ${depth} is not valid before ${new Date(cert.notBefore).toISOString()}`, depth) }
  if (now > cert.notAfter) { return fail('EXPIRED', `certificate at depth ${depth} expired at ${new Date(cert.notAfter).toISOString()}`, depth) }
}

/** Checks every certificate in a path except the anchor gets: algorithm, extensions, profile, key. */
export function checkCommon (cert: Certificate, now: number, depth: number, p: ResolvedChainPolicy): Check {
  if (!bytesEqual(cert.tbsSignatureAlgorithm.der, cert.signatureAlgorithm.der)) {
    return fail('UNSUPPORTED_ALGORITHM', 'signature algorithm inside and outside the TBS differ', depth)
  }
  try {
    signatureAlgorithm(cert.signatureAlgorithm, { allowSha1: p.allowSha1 })
  } catch (err) {
    return fail('UNSUPPORTED_ALGORITHM', (err as Error).message, depth, err)
  }
  if (cert.issuer.empty) { return fail('MALFORMED_CERTIFICATE', 'empty issuer name', depth) }
  if (p.requireKeyIdentifiers && !cert.selfIssued && cert.authorityKeyIdentifier?.keyIdentifier == null) {
    return fail('MALFORMED_CERTIFICATE', 'certificate lacks an authority key identifier', depth)
  }
  return checkValidity(cert, now, depth) ?? checkExtensions(cert, depth, p) ?? checkKey(cert, depth, p)
}

/** Criticality and profile rules shared by every role, anchors included. */
export function checkExtensions (cert: Certificate, depth: number, p: ResolvedChainPolicy): Check {
  for (const ext of cert.extensions.values()) {
    if (!ext.critical) { continue }
    if (MUST_BE_NON_CRITICAL.has(ext.oid)) { return fail('MALFORMED_CERTIFICATE', `extension ${ext.oid} must not be critical`, depth) }
    if (!PROCESSED.has(ext.oid)) { return fail('UNKNOWN_CRITICAL_EXTENSION', `unknown critical extension ${ext.oid}`, depth) }
  }
  const pc = cert.extensions.get(EXT.POLICY_CONSTRAINTS)
  if (pc != null && !pc.critical) { return fail('MALFORMED_CERTIFICATE', 'policyConstraints must be critical', depth) }
  const isCa = cert.basicConstraints?.ca === true
  if (cert.keyUsage?.has('keyCertSign') === true && !isCa) {
    return fail('KEY_USAGE', 'keyCertSign is asserted without basicConstraints cA', depth)
  }
  if (isCa && cert.subject.empty) { return fail('MALFORMED_CERTIFICATE', 'CA certificate with an empty subject', depth) }
  if (isCa && p.requireKeyIdentifiers && cert.subjectKeyIdentifier == null) {
    return fail('MALFORMED_CERTIFICATE', 'CA certificate lacks a subject key identifier', depth)
  }
  const san = cert.extensions.get(EXT.SUBJECT_ALT_NAME)
  if (cert.subject.empty && (san == null || !san.critical)) {
    return fail('MALFORMED_CERTIFICATE', 'empty subject requires a critical subjectAltName', depth)
  }
  return checkSanSyntax(cert, depth)
}

function checkKey (cert: Certificate, depth: number, p: ResolvedChainPolicy): Check {
  try {
    cert.publicKey(p.keyPolicy)
  } catch (err) {
    if (err instanceof KeyPolicyError && err.code === 'MALFORMED_KEY') { return fail('MALFORMED_CERTIFICATE', err.message, depth, err) }
    return fail('WEAK_KEY', (err as Error).message, depth, err)
  }
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
const DNS_NAME = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`)
const IPV4ISH = /^[0-9.]+$/

/** SAN values must have their RFC 5280 §4.2.1.6 syntax: preferred-name DNS (no IPs), addr-spec e-mail, absolute URIs. */
function checkSanSyntax (cert: Certificate, depth: number): Check {
  const san = cert.subjectAltName
  if (san == null) { return }
  for (const d of san.dns) {
    if (d.length > 253 || !DNS_NAME.test(d) || IPV4ISH.test(d)) { return fail('MALFORMED_CERTIFICATE', 'subjectAltName dNSName has invalid syntax', depth) }
  }
  for (const e of san.email) {
    const at = e.lastIndexOf('@')
    if (at <= 0 || at === e.length - 1) { return fail('MALFORMED_CERTIFICATE', 'subjectAltName rfc822Name has invalid syntax', depth) }
  }
  for (const u of san.uri) {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/.test(u)) { return fail('MALFORMED_CERTIFICATE', 'subjectAltName URI has invalid syntax', depth) }
  }
}

/** An intermediate that is to sign the certificate below it. */
export function checkIntermediate (cert: Certificate, now: number, depth: number, p: ResolvedChainPolicy): Check {
  // v1/v2 certificates cannot carry basicConstraints, so they are never CAs here.
  if (cert.version !== 3 || cert.basicConstraints?.ca !== true) {
    return fail('NOT_A_CA', `certificate at depth ${depth} is not a CA`, depth)
  }
  if (cert.keyUsage != null && !cert.keyUsage.has('keyCertSign')) {
    return fail('KEY_USAGE', `CA at depth ${depth} lacks keyCertSign`, depth)
  }
  return checkCommon(cert, now, depth, p)
}

/**
 * A trust anchor about to be used. Anchors are configured by operators, so we hold them to the
 * CA issuance profile (basicConstraints present and critical, key identifiers consistent) and to
 * key hygiene and validity; their own signatures are not checked.
 */
export function checkAnchor (cert: Certificate, now: number, depth: number, p: ResolvedChainPolicy): Check {
  const bc = cert.extensions.get(EXT.BASIC_CONSTRAINTS)
  if (cert.version !== 3 || cert.basicConstraints?.ca !== true) { return fail('NOT_A_CA', 'trust anchor is not a CA certificate', depth) }
  if (bc?.critical !== true) { return fail('MALFORMED_CERTIFICATE', 'trust anchor basicConstraints must be critical', depth) }
  if (cert.keyUsage != null && !cert.keyUsage.has('keyCertSign')) { return fail('KEY_USAGE', 'trust anchor lacks keyCertSign', depth) }
  const aki = cert.authorityKeyIdentifier
  if (aki != null) {
    if (aki.keyIdentifier == null || aki.hasIssuer || aki.serial != null) {
      return fail('MALFORMED_CERTIFICATE', 'trust anchor AKI must hold only a key identifier', depth)
    }
    if (cert.selfIssued && cert.subjectKeyIdentifier != null && !bytesEqual(aki.keyIdentifier, cert.subjectKeyIdentifier)) {
      return fail('MALFORMED_CERTIFICATE', 'self-issued trust anchor AKI differs from its SKI', depth)
    }
  }
  // A cross-signed anchor without AKI is accepted: the anchor is trusted as configured, and its
  // issuer is never consulted.
  return checkValidity(cert, now, depth) ?? checkExtensions(cert, depth, p) ?? checkKey(cert, depth, p)
}

/** The end-entity certificate, under the policy's leaf rules. */
export function checkLeaf (cert: Certificate, now: number, p: ResolvedChainPolicy): Check {
  if (p.requireV3Leaf && cert.version !== 3) { return fail('MALFORMED_CERTIFICATE', 'leaf is not an X.509 v3 certificate', 0) }
  const common = checkCommon(cert, now, 0, p)
  if (common != null) { return common }
  if (cert.basicConstraints?.ca === true && !p.allowCaLeaf) { return fail('KEY_USAGE', 'a CA certificate may not be the leaf', 0) }
  if (cert.keyUsage != null) {
    for (const ku of p.leafKeyUsage) { if (!cert.keyUsage.has(ku)) { return fail('KEY_USAGE', `leaf lacks key usage ${ku}`, 0) } }
  }
  const eku = cert.extKeyUsage
  if (eku == null) {
    if (p.requireEku) { return fail('EXT_KEY_USAGE', 'leaf has no extKeyUsage', 0) }
  } else {
    const any = p.acceptAnyEku && eku.includes(EKU.ANY)
    for (const want of p.requiredEku) {
      if (!any && !eku.includes(want)) { return fail('EXT_KEY_USAGE', `leaf lacks extended key usage ${want}`, 0) }
    }
  }
  if (p.expectedNodeId != null || p.expectedPeerId != null) {
    try {
      const id = nodeIdentity(cert)
      if (p.expectedNodeId != null && id.nodeId !== p.expectedNodeId) { return fail('NAME_MISMATCH', 'leaf node_id differs from the expected one', 0) }
      if (p.expectedPeerId != null && id.peerId !== p.expectedPeerId) { return fail('NAME_MISMATCH', 'leaf PeerId differs from the expected one', 0) }
    } catch (err) {
      if (err instanceof NodeIdentityError) { return fail('NAME_MISMATCH', err.message, 0, err) }
      throw err
    }
  }
}

/** Maps a signature-algorithm failure on a CRL or certificate to a chain error. */
export function algorithmError (err: unknown, depth: number): ChainValidationError {
  if (err instanceof SignatureAlgorithmError && err.code !== 'KEY_ALGORITHM_MISMATCH') {
    return fail('UNSUPPORTED_ALGORITHM', err.message, depth, err)
  }
  return fail('BAD_SIGNATURE', (err as Error).message, depth, err)
}
