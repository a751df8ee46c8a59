/**
 * How a mesh node configures gossipsub across every mesh topic: one message-id function (gossipsub
 * takes a single one for all topics), the options, and each topic's peer-score parameters, tuned
 * against the shared thresholds. It sits above the topic folders because it must know them all;
 * what the topics share among themselves is protocols/gossip-common.
 *
 * @example
 * ```ts
 * services: { pubsub: gossipsub(meshGossipsubOptions({ isMember })), ... }
 * ```
 */
export { IDONTWANT_MIN_BYTES, meshGossipsubOptions, NOT_MEMBER_SCORE } from './gossipsub-options.ts'
export type { MeshGossipsubInit } from './gossipsub-options.ts'
export { anomalyMsgId, meshFastMsgIdFn, meshMsgIdFn, meshMsgIdFnWith } from './msg-id.ts'
export type { OriginProof } from './msg-id.ts'
export { ANOMALY_TOPIC_SCORE_PARAMS, CRL_TOPIC_SCORE_PARAMS } from './score-params.ts'
