/**
 * `/dadm-mesh/anomaly/1`: signed, revocation-aware gossip of anomaly signatures over gossipsub
 * with StrictSign. An envelope carries the origin's certificate chain, so that nodes that never
 * met the origin can check it (after a DTN delay too); the gossipsub signature by the origin's
 * PeerId key covers the envelope, and the certificate binds that PeerId to the origin node_id.
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
export { ANOMALY_CODE_ACTIONS, ANOMALY_VALIDATION_CODES, AnomalyGossipError, EnvelopeError } from './errors.ts'
export type { AnomalyGossipErrorCode, AnomalyValidationCode, EnvelopeErrorCode } from './errors.ts'
export { decodeEnvelope, decodePayload, encodeEnvelope, encodePayload, envelopeDigest, isValidMessageId } from './codec.ts'
export type { AnomalyEnvelope, AnomalyPayload, MetaValue } from './codec.ts'
export { isConflict, validateAnomaly } from './validate.ts'
export type { AnomalyAccepted, AnomalyConflict, AnomalyRefused, AnomalyValidationContext, AnomalyValidationInput, AnomalyVerdict, OriginChainVerifier, SeenRecord } from './validate.ts'
export { contentDigest, peekEnvelope } from './envelope-memo.ts'
export { EQUIVOCATION_DEFAULTS, EquivocationReports } from './equivocation.ts'
export type { EquivocatingOrigin, EquivocationLimits, EquivocationReport } from './equivocation.ts'
export { DefaultAnomalyGossip } from './anomaly-gossip.ts'
export type { AnomalyGossip, AnomalyGossipComponents, AnomalyGossipEvents, AnomalyGossipInit, AnomalyOrigin, PublishedAnomaly, PublishOptions } from './anomaly-gossip.ts'

/** The anomaly gossip service factory for libp2p's `services` map (after `pubsub`). */
export function anomalyGossip (init: AnomalyGossipInit): (components: AnomalyGossipComponents) => AnomalyGossip {
  return (components) => new DefaultAnomalyGossip(components, init)
}
