/**
 * `/dadm-mesh/revoke/1.0.0`: the CA's own mesh node, or an operator node, pushes a new CA-signed
 * CRL to its connected peers, who install it (same acceptance as CRL gossip: CA-signed, newer,
 * not expired) and gossip it on. One stream per push: push frame out, result frame back.
 *
 * @example
 * ```ts
 * services: {
 *   auth: meshAuth(...), pubsub: gossipsub(...), crlGossip: crlGossip(...),
 *   revoke: meshRevoke({ onInvalidPush: (peer, code) => blockList.strike(peer, code) })
 * }
 * const outcomes = await node.services.revoke.push(crlDer)
 * ```
 */
import { DefaultMeshRevoke } from './mesh-revoke.ts'
import type { MeshRevoke, MeshRevokeComponents, MeshRevokeInit } from './mesh-revoke.ts'

export { PROTOCOL as REVOKE_PROTOCOL, WIRE_VERSION as REVOKE_WIRE_VERSION, MAX_FRAME_BYTES as REVOKE_MAX_FRAME_BYTES, DEFAULT_DEADLINE_MS as REVOKE_DEFAULT_DEADLINE_MS, MAX_INBOUND_STREAMS as REVOKE_MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS as REVOKE_MAX_OUTBOUND_STREAMS } from './constants.ts'
export { RevokeError } from './errors.ts'
export type { RevokeErrorCode } from './errors.ts'
export { decodeRevokeFrame, encodeRevokeFrame } from './codec.ts'
export type { PushFrame, ResultFrame, RevokeFrame } from './codec.ts'
export { RevokeFrameIo } from './frame-io.ts'
export { DefaultMeshRevoke } from './mesh-revoke.ts'
export type { MeshRevoke, MeshRevokeComponents, MeshRevokeInit, PushOutcome, RevokeAuth } from './mesh-revoke.ts'

/** The revoke push service factory for libp2p's `services` map (after `auth` and `crlGossip`). */
export function meshRevoke (init: MeshRevokeInit = {}): (components: MeshRevokeComponents) => MeshRevoke {
  return (components) => new DefaultMeshRevoke(components, init)
}
