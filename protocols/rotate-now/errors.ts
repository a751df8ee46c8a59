import { MeshError } from '../../src/errors.ts'

/**
 * Bounded reasons a notice is refused, each with the action a gossip validator takes (after
 * Lodestar's gossip errors): `reject` penalises the sender (it relayed something it should have
 * checked), `ignore` drops it without blame (late, duplicate, stale).
 */
export const NOTICE_CODE_ACTIONS = {
  /** Not the CBOR envelope or body a notice is, or a field out of bounds. */
  MALFORMED: 'reject',
  /** Larger than MAX_NOTICE_BYTES. */
  TOO_LARGE: 'reject',
  /** Another wire version. */
  UNSUPPORTED_VERSION: 'ignore',
  /** Past its `exp`. */
  EXPIRED: 'ignore',
  /** `iat` further in the future than the clock tolerance. */
  NOT_YET_VALID: 'ignore',
  /** `exp - iat` above MAX_TTL_MS. */
  LIFETIME_TOO_LONG: 'reject',
  /** The signer's chain does not lead to a root we trust now, or the signer is no CA, or is revoked. */
  UNTRUSTED_SIGNER: 'reject',
  /** A trust bundle signed by anything but a root we trust now. */
  NOT_ROOT_SIGNED: 'reject',
  /** The signature does not verify under the signer certificate's key. */
  BAD_SIGNATURE: 'reject',
  /** A trust bundle whose sequence is not above the one applied (a replay or an older bundle). */
  STALE: 'ignore',
  /** Seen before: dropped, not forwarded again. */
  DUPLICATE: 'ignore'
} as const satisfies Record<string, 'reject' | 'ignore'>

export type NoticeErrorCode = keyof typeof NOTICE_CODE_ACTIONS

export const NOTICE_ERROR_CODES = Object.keys(NOTICE_CODE_ACTIONS) as NoticeErrorCode[]

/** True when `s` is one of the bounded codes (codes a peer reports come back through this). */
export function isNoticeErrorCode (s: unknown): s is NoticeErrorCode {
  return typeof s === 'string' && Object.hasOwn(NOTICE_CODE_ACTIONS, s)
}

/** Raised by the notice codec and verifier. */
export class NoticeError extends MeshError<NoticeErrorCode> {
  static name = 'NoticeError'

  /** What a gossip validator does with a notice refused for this reason. */
  get action (): 'reject' | 'ignore' {
    return NOTICE_CODE_ACTIONS[this.code]
  }
}
