/**
 * `/dadm-mesh/crl/1`: CA-signed CRLs over gossipsub, so that revocation reaches every node fast.
 * A node accepts a CRL only if a trusted CA signed it, its CRL number is above the one it holds
 * (an older number changes nothing: no un-revocation) and it has not expired; it then installs it
 * in its ChainVerifier and calls `onNewCrl`, the node's revocation enforcement point.
 *
 * @example
 * ```ts
 * services: {
 *   pubsub: gossipsub(meshGossipsubOptions({ isMember })),
 *   crlGossip: crlGossip({ holder: chainVerifier, onNewCrl: async (e) => { await node.applyRevocation(...) } })
 * }
 * await node.services.crlGossip.offer(encodeCrlMessage(crlDer), 'fetch')
 * ```
 */
import { DefaultCrlGossip } from './crl-gossip.ts'
import type { CrlGossip, CrlGossipComponents, CrlGossipInit } from './crl-gossip.ts'

export { TOPIC as CRL_TOPIC, WIRE_VERSION as CRL_WIRE_VERSION, MAX_CRL_MESSAGE_BYTES, DEFAULT_MAX_SKEW_MS as CRL_DEFAULT_MAX_SKEW_MS, DEFAULT_CRL_GRACE_MS } from './constants.ts'
export { CRL_CODE_ACTIONS, CRL_VALIDATION_CODES, CrlGossipError, CrlMessageError } from './errors.ts'
export type { CrlGossipErrorCode, CrlMessageErrorCode, CrlValidationCode } from './errors.ts'
export { decodeCrlMessage, encodeCrlMessage } from './codec.ts'
export type { CrlMessage } from './codec.ts'
export { validateCrlMessage } from './validate.ts'
export type { CrlAccepted, CrlAuthority, CrlRefused, CrlValidationContext, CrlValidationInput, CrlVerdict } from './validate.ts'
export { crlRevocationPredicate, crlSource } from './revocation-predicate.ts'
export { DefaultCrlGossip } from './crl-gossip.ts'
export type { CrlGossip, CrlGossipComponents, CrlGossipEvents, CrlGossipInit, CrlHolder, CrlSource, NewCrlEvent } from './crl-gossip.ts'

/** The CRL gossip service factory for libp2p's `services` map (after `pubsub`). */
export function crlGossip (init: CrlGossipInit): (components: CrlGossipComponents) => CrlGossip {
  return (components) => new DefaultCrlGossip(components, init)
}
