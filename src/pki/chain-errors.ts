import { MeshError } from '../errors.ts'

/**
 * Why a certificate chain was refused. The set is bounded so it can label metrics, be printed by
 * `dadm-mesh cert verify` and be asserted in tests.
 */
export type ChainErrorCode =
  // --- the certificates themselves ---
  | 'MALFORMED_CERTIFICATE' // unparseable, or breaks the X.509 profile (critical AKI/SKI, missing AKI/SKI, empty names, bad SAN syntax, keyCertSign without cA)
  | 'EXPIRED' // now > notAfter of a certificate in the path (anchors included)
  | 'NOT_YET_VALID' // now < notBefore
  | 'UNKNOWN_CRITICAL_EXTENSION' // a critical extension the validator does not process (name constraints, policy constraints, ...)
  | 'UNSUPPORTED_ALGORITHM' // unknown signature algorithm, wrong parameters, tbs/outer algorithm mismatch, SHA-1 without policy
  | 'WEAK_KEY' // key refused by the key policy: small or huge RSA, DSA, other curves, explicit curves, malformed points
  | 'BAD_SIGNATURE' // a certificate's signature does not verify with its issuer's key
  // --- path rules ---
  | 'UNKNOWN_ISSUER' // no path to a trusted root
  | 'NOT_A_CA' // an issuer lacks basicConstraints cA=TRUE (a leaf used as an issuer, v1 intermediates)
  | 'PATH_LEN_EXCEEDED' // a CA's pathLenConstraint is exceeded
  | 'PATH_TOO_LONG' // more intermediates than the policy allows
  | 'KEY_USAGE' // issuer without keyCertSign, leaf without the key usages the policy requires, CA leaf refused
  | 'EXT_KEY_USAGE' // leaf without the extended key usages the policy requires
  | 'NAME_MISMATCH' // leaf does not carry the node_id / PeerId the caller expected
  | 'WORK_BUDGET_EXCEEDED' // path building gave up: too many candidates or signature checks (pathological input)
  // --- revocation ---
  | 'REVOKED' // the issuer's CRL lists the certificate's serial
  | 'CRL_INVALID' // a CRL that cannot be used: malformed, unknown critical (entry) extension, delta/scoped/indirect CRL, missing or critical cRLNumber
  | 'CRL_BAD_SIGNATURE' // no key of the CRL issuer verifies the CRL
  | 'CRL_NO_CRL_SIGN' // the CRL is signed by a key whose certificate lacks cRLSign
  | 'CRL_EXPIRED' // revocation info required, and the CRL's nextUpdate has passed
  | 'CRL_NOT_YET_VALID' // revocation info required, and the CRL's thisUpdate is in the future
  | 'CRL_NUMBER_REPLAYED' // a CRL whose number is not above the one already held for its issuer
  | 'CRL_MISSING' // revocation info required, and there is no CRL for an issuer in the path

/** Raised by verifyChain and ChainVerifier. `depth` is the position in the path (0 = leaf) when known. */
export class ChainValidationError extends MeshError<ChainErrorCode> {
  static name = 'ChainValidationError'
  readonly depth?: number

  constructor (code: ChainErrorCode, message: string, options?: ErrorOptions & { depth?: number }) {
    super(code, message, options)
    if (options?.depth !== undefined) { this.depth = options.depth }
  }
}
