import { MeshError } from '../../src/errors.ts'

/** Bounded reasons a revoke push frame is refused. */
export type RevokeErrorCode =
  | 'FRAME_TOO_LARGE' // length above MAX_FRAME_BYTES: the body is never read
  | 'MALFORMED_MESSAGE' // not the CBOR frame expected at this step
  | 'UNSUPPORTED_VERSION' // a push of another wire version

/** Raised by the revoke push codec. */
export class RevokeError extends MeshError<RevokeErrorCode> {
  static name = 'RevokeError'
}
