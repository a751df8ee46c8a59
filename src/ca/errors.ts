import { MeshError } from '../errors.ts'

/** Bounded codes for a CSR the CA refuses (the CSR itself is at fault). */
export type CsrRejectedCode =
  | 'MALFORMED_CSR' // well-formed DER that is not a PKCS#10 request we accept
  | 'UNSUPPORTED_SIGNATURE_ALGORITHM'
  | 'BAD_SIGNATURE' // the self-signature does not verify with the CSR's own key
  | 'WEAK_KEY' // RSA below 2048 bits (or not whole bytes)
  | 'KEY_TOO_LARGE' // RSA above 8192 bits
  | 'UNSUPPORTED_KEY' // a curve other than P-256/P-384, Ed25519; DSA; explicit curves
  | 'MALFORMED_KEY'
  | 'CA_REQUESTED' // basicConstraints cA=TRUE
  | 'CERT_SIGN_REQUESTED' // keyUsage keyCertSign or cRLSign
  | 'EXTRA_SAN' // any SAN beyond the ones the profile allows
  | 'MISSING_NODE_SAN'
  | 'MISSING_PEER_SAN'
  | 'MISSING_ADMIN_SAN'
  | 'INVALID_NODE_ID'
  | 'INVALID_PEER_ID'
  | 'INVALID_NAME'
  | 'NODE_ID_MISMATCH' // the CSR names another node_id than the caller required

/** Raised when a CSR is refused; nothing is issued or stored. */
export class CsrRejectedError extends MeshError<CsrRejectedCode> {
  static name = 'CsrRejectedError'
}

/** Bounded codes for CA-side refusals and failures. */
export type IssuanceErrorCode =
  | 'CA_EXISTS' // init over an existing CA directory
  | 'CA_NOT_FOUND' // open on a directory without a CA
  | 'BAD_CA_CONFIG' // ca.json or its files are unusable
  | 'CA_CLOSED'
  | 'ISSUER_NOT_VALID' // the issuing CA is expired or not yet valid at `now`
  | 'VALIDITY_OUT_OF_RANGE' // requested validity <= 0 or above the configured maximum
  | 'NODE_REVOKED' // the node_id is blocked
  | 'NODE_ID_TAKEN' // the node_id has a live certificate and the request may not supersede it
  | 'BAD_PROFILE_INPUT' // wrong or missing dnsNames/ipAddresses/name for the profile
  | 'UNKNOWN_SERIAL' // revoke of a serial this CA never issued
  | 'UNKNOWN_NODE_ID' // revoke of a node_id this CA never issued to, without blockUnknown
  | 'NODE_NOT_BLOCKED' // unblock of a node_id that is not blocked
  | 'INVALID_NODE_ID'
  | 'BAD_REASON'

/** Raised for CA-side problems; nothing is issued or stored. */
export class IssuanceError extends MeshError<IssuanceErrorCode> {
  static name = 'IssuanceError'
}
