import { MeshError } from '../errors.ts'

/** Bounded reasons the node refuses to start or to act. */
export type MeshNodeErrorCode =
  /** A config value is missing or out of range. */
  | 'CONFIG_INVALID'
  /** The stored host key is not an Ed25519 key. */
  | 'HOST_KEY_INVALID'
  /** Our identity signer's key is not the key of our leaf certificate. */
  | 'CREDENTIALS_MISMATCH'
  /** An operation that needs a running node was called on a stopped one. */
  | 'NOT_STARTED'
  /** A gossip operation on a node that runs without gossip (`options.gossip.enabled` false). */
  | 'GOSSIP_DISABLED'
  /** A listen address could not be bound (port in use, address not on this host). */
  | 'LISTEN_FAILED'

export class MeshNodeError extends MeshError<MeshNodeErrorCode> {
  static name = 'MeshNodeError'
}
