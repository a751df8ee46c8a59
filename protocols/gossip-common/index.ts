/**
 * What every mesh gossip topic (`/dadm-mesh/anomaly/1`, `/dadm-mesh/crl/1`, notices) shares: the
 * verdict-to-gossipsub mapping and its metric, the validator's relay check, and the start/stop
 * hold on gossipsub. It imports no topic, so every topic can import it; the gossipsub
 * configuration over all topics (message ids, options, score parameters) is protocols/mesh-gossipsub.
 */
export { GossipValidationMetrics, toTopicValidatorResult, VALIDATION_METRIC } from './gossip-result.ts'
export type { ValidationAction, ValidationSample, VerdictLike } from './gossip-result.ts'
export { refusal, relayIsMember } from './refusal.ts'
export type { Refusal } from './refusal.ts'
export { TopicAttachment } from './topic-attachment.ts'
export type { MeshPubSub } from './topic-attachment.ts'
