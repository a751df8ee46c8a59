import { MeshError } from '../../errors.ts'

/** Bounded reasons a node process refuses to start, or a `--dir NODEDIR` command cannot act. */
export type NodeRuntimeErrorCode =
  /** NODEDIR holds no node.json: run `dadm-mesh node enroll` first. */
  | 'NOT_ENROLLED'
  /** A file in NODEDIR is missing, too large or not what it should be. */
  | 'NODE_DIR_INVALID'
  /** The stored certificate does not validate now (expired, or not for our keys). */
  | 'CERT_INVALID'
  /** Another process runs this node (run.json names a live pid, or the LevelDB is locked). */
  | 'ALREADY_RUNNING'
  /** No running node for NODEDIR (no run.json, or its pid is gone). */
  | 'NOT_RUNNING'
  /** A bootstrap-list file line is not a multiaddr with /p2p/. */
  | 'BOOTSTRAP_FILE_INVALID'
  /** The certificate expired and the CA will not renew it (window passed, revoked): enroll again. */
  | 'REENROLL_REQUIRED'
  /** The node holds what it sends while its certificate is not valid, and that hold is full. */
  | 'HOLD_FULL'
  /** A CA-signed CRL lists this node's certificate (or a CA above it): enroll again. */
  | 'NODE_REVOKED'

export class NodeRuntimeError extends MeshError<NodeRuntimeErrorCode> {
  static name = 'NodeRuntimeError'
}
