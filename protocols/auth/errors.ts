import { MeshError } from '../../src/errors.ts'

/** Bounded reasons an auth exchange fails; logged on both sides and counted in metrics. */
export type AuthErrorCode =
  /** The peer sent an empty chain. */
  | 'NO_CERTIFICATE'
  /** The chain does not lead to a trusted root or a certificate in it is unusable (see `chainCode`). */
  | 'CHAIN_INVALID'
  /** The chain is good but a certificate in it is revoked. */
  | 'REVOKED'
  /** The leaf's SAN PeerId is not `connection.remotePeer` (a stolen certificate). */
  | 'PEER_ID_MISMATCH'
  /** The transcript signature does not verify under the leaf's key. */
  | 'BAD_TRANSCRIPT_SIGNATURE'
  /** The peer reused a nonce we have already seen: a replayed transcript. */
  | 'REPLAYED_TRANSCRIPT'
  /** The exchange did not finish within the deadline. */
  | 'TIMEOUT'
  /** A frame's length prefix exceeds the maximum; the body was never read. */
  | 'FRAME_TOO_LARGE'
  /** A frame is not the CBOR message we expect at this step. */
  | 'MALFORMED_MESSAGE'
  /** The peer speaks another wire version. */
  | 'UNSUPPORTED_VERSION'
  /** The peer does not speak the auth protocol at all. */
  | 'PROTOCOL_UNSUPPORTED'
  /** The peer refused us; `remoteCode` says why, as the peer reported it. */
  | 'REMOTE_REJECTED'
  /** The stream or connection closed before the exchange ended. */
  | 'CLOSED'
  /** A stream of a protected protocol came from a peer that has not authenticated. */
  | 'NOT_AUTHENTICATED'
  /** Our own credentials failed (no chain, signer error): a local fault, not the peer's. */
  | 'LOCAL_CREDENTIALS'
  /** The certificate a session was authenticated with expired and no re-auth replaced it. */
  | 'SESSION_EXPIRED'
  /** A re-auth presented a certificate for another node_id or PeerId than the session's. */
  | 'IDENTITY_CHANGED'
  /** A re-auth came sooner than REAUTH_MIN_INTERVAL_MS after the last one on the connection. */
  | 'RATE_LIMITED'
  /** The peer's PeerId is backed off after failed auths (the node's block list). */
  | 'PEER_BACKED_OFF'
  /** A connection came from a source (IPv4 address, IPv6 /64) backed off after repeated failed auths. */
  | 'SOURCE_BACKED_OFF'
  /** A connection came from a source that already holds its share of the connections waiting for auth. */
  | 'SOURCE_LIMIT'
  /** A connection waiting for auth was closed to make room (oldest of the source holding the most). */
  | 'PREAUTH_PRUNED'

export const AUTH_ERROR_CODES: readonly AuthErrorCode[] = [
  'NO_CERTIFICATE', 'CHAIN_INVALID', 'REVOKED', 'PEER_ID_MISMATCH', 'BAD_TRANSCRIPT_SIGNATURE',
  'REPLAYED_TRANSCRIPT', 'TIMEOUT', 'FRAME_TOO_LARGE', 'MALFORMED_MESSAGE', 'UNSUPPORTED_VERSION',
  'PROTOCOL_UNSUPPORTED', 'REMOTE_REJECTED', 'CLOSED', 'NOT_AUTHENTICATED', 'LOCAL_CREDENTIALS',
  'SESSION_EXPIRED', 'IDENTITY_CHANGED', 'RATE_LIMITED',
  'SOURCE_BACKED_OFF', 'SOURCE_LIMIT', 'PREAUTH_PRUNED', 'PEER_BACKED_OFF'
]

/** True when `s` is one of the bounded codes (used on codes a remote peer reports to us). */
export function isAuthErrorCode (s: unknown): s is AuthErrorCode {
  return typeof s === 'string' && (AUTH_ERROR_CODES as readonly string[]).includes(s)
}

export interface AuthErrorDetail {
  /** For CHAIN_INVALID: the chain validator's own bounded code (EXPIRED, UNKNOWN_ISSUER, ...). */
  chainCode?: string
  /** For REMOTE_REJECTED: the code the peer sent in its verdict, when it was one of ours. */
  remoteCode?: AuthErrorCode
  /** We told the peer this code in a verdict frame before failing (so give it time to arrive). */
  verdictSent?: boolean
}

/** Raised (or reported in `peer:auth-failed`) when mutual authentication fails. */
export class AuthError extends MeshError<AuthErrorCode> {
  static name = 'AuthError'
  readonly chainCode?: string
  readonly remoteCode?: AuthErrorCode
  readonly verdictSent?: boolean

  constructor (code: AuthErrorCode, message: string, detail: AuthErrorDetail = {}, options?: ErrorOptions) {
    super(code, message, options)
    if (detail.chainCode != null) { this.chainCode = detail.chainCode }
    if (detail.remoteCode != null) { this.remoteCode = detail.remoteCode }
    if (detail.verdictSent === true) { this.verdictSent = true }
  }
}
