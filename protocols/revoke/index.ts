/**
 * `/dadm-mesh/revoke/1.0.0`: the CA's own mesh node, or an operator node, pushes a new CA-signed
 * CRL to its connected peers, who install it (same acceptance as CRL gossip) and gossip it on.
 *
 * This folder holds the wire format so far; the libp2p service (handler, dialer, deadlines) comes
 * with the node integration of issue 5 and will be exported from here as `meshRevoke(init)`.
 */
export { PROTOCOL as REVOKE_PROTOCOL, WIRE_VERSION as REVOKE_WIRE_VERSION, MAX_FRAME_BYTES as REVOKE_MAX_FRAME_BYTES, DEFAULT_DEADLINE_MS as REVOKE_DEFAULT_DEADLINE_MS, MAX_INBOUND_STREAMS as REVOKE_MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS as REVOKE_MAX_OUTBOUND_STREAMS } from './constants.ts'
export { RevokeError } from './errors.ts'
export type { RevokeErrorCode } from './errors.ts'
export { decodeRevokeFrame, encodeRevokeFrame } from './codec.ts'
export type { PushFrame, ResultFrame, RevokeFrame } from './codec.ts'
