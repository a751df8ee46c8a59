import { MeshError } from '../errors.ts'
import type { GeneralNames } from './x509-extensions.ts'

/**
 * The mesh identity a node certificate carries in its SAN (DESIGN.md "Trust model"):
 * `urn:dadm:node:<node_id>` and `urn:libp2p:peer:<peerId>`.
 */

export const NODE_URI_PREFIX = 'urn:dadm:node:'
export const PEER_URI_PREFIX = 'urn:libp2p:peer:'

export type NodeIdentityErrorCode =
  | 'MISSING_NODE_ID' // no urn:dadm:node: URI
  | 'INVALID_NODE_ID' // node_id fails the syntax below
  | 'MULTIPLE_NODE_IDS' // more than one node URI: ambiguous, refused
  | 'INVALID_PEER_ID' // peer URI whose id is not base58btc text
  | 'MULTIPLE_PEER_IDS'

/** Raised when a certificate does not carry exactly one well-formed mesh identity. */
export class NodeIdentityError extends MeshError<NodeIdentityErrorCode> {
  static name = 'NodeIdentityError'
}

export interface NodeIdentity {
  nodeId: string
  /** The libp2p PeerId text, when the certificate binds one. */
  peerId?: string
}

// 1-64 chars of [A-Za-z0-9._-], not starting with '.', so ids are safe as file names and log fields.
const NODE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/
// libp2p PeerIds in text are base58btc multihashes: Ed25519 ids are 52 chars, RSA ones 46; 128 bounds it.
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{32,128}$/

/** True for a syntactically valid node_id: 1-64 chars `[A-Za-z0-9._-]`, not starting with `.`. */
export function isValidNodeId (id: string): boolean {
  return NODE_ID.test(id)
}

/** True for PeerId text in base58btc form (the form `peerId.toString()` produces). */
export function isValidPeerIdText (id: string): boolean {
  return PEER_ID.test(id)
}

/** Extracts `{ nodeId, peerId }` from a certificate's SAN URIs, or throws NodeIdentityError. */
export function nodeIdentity (cert: { subjectAltName?: GeneralNames }): NodeIdentity {
  const uris = cert.subjectAltName?.uri ?? []
  const nodes = uris.filter(u => u.startsWith(NODE_URI_PREFIX)).map(u => u.slice(NODE_URI_PREFIX.length))
  const peers = uris.filter(u => u.startsWith(PEER_URI_PREFIX)).map(u => u.slice(PEER_URI_PREFIX.length))
  if (nodes.length === 0) { throw new NodeIdentityError('MISSING_NODE_ID', 'certificate carries no urn:dadm:node: URI') }
  if (nodes.length > 1) { throw new NodeIdentityError('MULTIPLE_NODE_IDS', 'certificate carries more than one node URI') }
  if (!isValidNodeId(nodes[0])) { throw new NodeIdentityError('INVALID_NODE_ID', 'node_id has invalid syntax') }
  if (peers.length > 1) { throw new NodeIdentityError('MULTIPLE_PEER_IDS', 'certificate carries more than one peer URI') }
  if (peers.length === 1 && !isValidPeerIdText(peers[0])) {
    throw new NodeIdentityError('INVALID_PEER_ID', 'peer id is not base58btc PeerId text')
  }
  return peers.length === 1 ? { nodeId: nodes[0], peerId: peers[0] } : { nodeId: nodes[0] }
}
