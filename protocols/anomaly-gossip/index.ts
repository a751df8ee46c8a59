/**
 * `/dadm-mesh/anomaly/1`: signed, revocation-aware gossip of anomaly signatures over gossipsub
 * with StrictNoSign. An envelope carries the origin's certificate chain and its own signature, so
 * that nodes that never met the origin can check it (after a DTN delay, or from the store, too):
 * a per-epoch gossip key signs the envelope, and the origin's identity key (the certificate's)
 * signs the gossip key's delegation.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({
 *   services: {
 *     pubsub: gossipsub(meshGossipsubOptions({ isMember })),
 *     anomalyGossip: anomalyGossip({ store, verifier, origin: () => ({ chain }) }),
 *     ...
 *   }
 * })
 * await node.services.anomalyGossip.publish({ type: 'sha256', value: '9f86...' }, { ttlMs: 3600_000 })
 * store.addEventListener('anomaly', (evt) => { agent.onSignature(evt.detail) })
 * ```
 */
import { DefaultAnomalyGossip } from './anomaly-gossip.ts'
import type { AnomalyGossip, AnomalyGossipComponents, AnomalyGossipInit } from './anomaly-gossip.ts'

export {
  TOPIC as ANOMALY_TOPIC, WIRE_VERSION as ANOMALY_WIRE_VERSION, MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_SKEW_MS as ANOMALY_DEFAULT_MAX_SKEW_MS, DEFAULT_TTL_MS as ANOMALY_DEFAULT_TTL_MS, MAX_TTL_MS as ANOMALY_MAX_TTL_MS
} from './constants.ts'
export { ANOMALY_CODE_ACTIONS, ANOMALY_VALIDATION_CODES, AnomalyGossipError, AnomalyRefusedError, EnvelopeError } from './errors.ts'
export type { AnomalyGossipErrorCode, AnomalyValidationCode, EnvelopeErrorCode } from './errors.ts'
export { decodeEnvelope, decodePayload, encodeEnvelope, encodePayload, envelopeDigest, isValidMessageId } from './codec.ts'
export type { AnomalyEnvelope, AnomalyPayload, MetaValue, UnsignedEnvelope } from './codec.ts'
export { isConflict, validateAnomaly } from './validate.ts'
export type { AnomalyAccepted, AnomalyConflict, AnomalyRefused, AnomalyValidationContext, AnomalyValidationInput, AnomalyVerdict, OriginChainVerifier, SeenRecord } from './validate.ts'
export { contentDigest, peekEnvelope, releaseEnvelope } from './envelope-memo.ts'
export { EQUIVOCATION_DEFAULTS, EquivocationReports } from './equivocation.ts'
export type { EquivocatingOrigin, EquivocationLimits, EquivocationReport } from './equivocation.ts'
export { checkOrigin, delegationWindowCode } from './origin-check.ts'
export type { OriginChecked, OriginCheckContext } from './origin-check.ts'
export { DelegationCache } from './delegation-cache.ts'
export { DELEGATION_LABEL, ORIGIN_SIGNATURE_LABEL, delegationSigningInput, originSigningInput, signOrigin, verifyOriginSignature } from './origin-proof.ts'
export type { GossipDelegation } from './origin-proof.ts'
export { GossipKeyEpochs, newEpoch, signEnvelope } from './gossip-key.ts'
export type { EpochIdentity, GossipEpoch } from './gossip-key.ts'
export { reverifyEnvelope } from './reverify.ts'
export { signAnomalyOffline } from './sign-anomaly.ts'
export type { OfflineSignInit } from './sign-anomaly.ts'
export type { ReverifyContext, StoredVerification } from './reverify.ts'
export { DefaultAnomalyGossip } from './anomaly-gossip.ts'
export type { AnomalyGossip, AnomalyGossipComponents, AnomalyGossipEvents, AnomalyGossipInit, AnomalyOrigin, PublishedAnomaly, PublishOptions } from './anomaly-gossip.ts'

/** The anomaly gossip service factory for libp2p's `services` map (after `pubsub`). */
export function anomalyGossip (init: AnomalyGossipInit): (components: AnomalyGossipComponents) => AnomalyGossip {
  return (components) => new DefaultAnomalyGossip(components, init)
}
