import { MeshError } from '../../src/errors.ts'

/**
 * Why a gossiped CRL was not accepted. Bounded: it labels `dadm_mesh_gossip_validation_total`,
 * and each code always comes with the same action (CRL_CODE_ACTIONS).
 */
export type CrlValidationCode =
  | 'RELAY_NOT_MEMBER' // ignore: the propagation source is no longer an authenticated mesh member
  | 'TOO_LARGE' // reject: message above MAX_CRL_MESSAGE_BYTES, refused before decoding
  | 'MALFORMED' // reject: not the CBOR message, or the CRL inside is not a parseable X.509 CRL
  | 'UNSUPPORTED_VERSION' // ignore: a future message version
  | 'CRL_INVALID' // reject: a CRL the mesh does not use (delta, unknown critical extension, no number, no nextUpdate)
  | 'UNKNOWN_ISSUER' // reject: no trusted CA of that name (a foreign CA's CRL)
  | 'NOT_NEWER' // ignore: CRL number not above the one held; changes nothing (no un-revocation)
  | 'EXPIRED' // ignore: nextUpdate (+ grace) has passed
  | 'NOT_YET_VALID' // ignore: thisUpdate beyond now + skew
  | 'BAD_SIGNATURE' // reject: no key of the trusted CA verifies it
  | 'NO_CRL_SIGN' // reject: signed by a CA key whose certificate lacks cRLSign

export const CRL_CODE_ACTIONS: Readonly<Record<CrlValidationCode, 'reject' | 'ignore'>> = Object.freeze({
  RELAY_NOT_MEMBER: 'ignore',
  TOO_LARGE: 'reject',
  MALFORMED: 'reject',
  UNSUPPORTED_VERSION: 'ignore',
  CRL_INVALID: 'reject',
  UNKNOWN_ISSUER: 'reject',
  NOT_NEWER: 'ignore',
  EXPIRED: 'ignore',
  NOT_YET_VALID: 'ignore',
  BAD_SIGNATURE: 'reject',
  NO_CRL_SIGN: 'reject'
})

export const CRL_VALIDATION_CODES = Object.keys(CRL_CODE_ACTIONS) as CrlValidationCode[]

/** Codes the CRL message codec raises. */
export type CrlMessageErrorCode = Extract<CrlValidationCode, 'TOO_LARGE' | 'MALFORMED' | 'UNSUPPORTED_VERSION'>

/** Raised by the CRL message codec. */
export class CrlMessageError extends MeshError<CrlMessageErrorCode> {
  static name = 'CrlMessageError'
}

/** Local failures of the CRL gossip service. */
export type CrlGossipErrorCode =
  | 'NOT_STARTED' // publish before start() or after stop()
  | 'NO_PUBSUB' // the libp2p node has no gossipsub service under `pubsub`
  | 'NOTHING_TO_PUBLISH' // publishCrl() without a CRL and none held

/** Raised by the CRL gossip service to its caller. */
export class CrlGossipError extends MeshError<CrlGossipErrorCode> {
  static name = 'CrlGossipError'
}
