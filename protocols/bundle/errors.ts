import { MeshError } from '../../src/errors.ts'

/** Bounded reasons a `/dadm-mesh/bundle/1.0.0` exchange fails (the bundle's own refusals are BundleError). */
export type BundleProtocolErrorCode =
  /** A frame's length (prefix or body) exceeds the limit; the body was never decoded. */
  | 'FRAME_TOO_LARGE'
  /** A frame is not the CBOR message expected. */
  | 'MALFORMED_FRAME'
  /** The peer speaks another wire version. */
  | 'UNSUPPORTED_VERSION'
  /** A frame or its ACK did not arrive within the deadline. */
  | 'TIMEOUT'
  /** The stream closed before the exchange ended. */
  | 'CLOSED'
  /** The peer is not the newest holder of its node_id (src/dtn/holders.ts): no bundle goes to it. */
  | 'HOLDER_REFUSED'

/** Raised by the bundle protocol's codec and stream code. */
export class BundleProtocolError extends MeshError<BundleProtocolErrorCode> {
  static name = 'BundleProtocolError'
}
