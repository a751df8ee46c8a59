import type { TopicScoreParams } from '@libp2p/gossipsub/score'

/**
 * Peer-score parameters of `/dadm-mesh/crl/1`. Rare traffic (one CRL per revocation, plus
 * reissues at half-life), so positive terms are tiny; the only thing worth scoring is an invalid
 * CRL, which an honest node never forwards: stale and expired CRLs are IGNOREd, not rejected, and
 * a node only relays a CRL its own validator accepted.
 */
export const CRL_TOPIC_SCORE_PARAMS: TopicScoreParams = {
  // Rare traffic: half weight, so it neither builds nor drains much score by volume.
  topicWeight: 0.5,

  // P1/P2 OFF: there is almost no traffic to reward, and rewarding CRL relays would let a peer
  // bank score by re-gossiping the same CRL.
  timeInMeshWeight: 0,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 1,
  firstMessageDeliveriesWeight: 0,
  firstMessageDeliveriesDecay: 0.5,
  firstMessageDeliveriesCap: 1,

  // P3/P3b OFF: a delivery-rate target makes no sense for a topic that is silent for hours.
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 1,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,

  // P4: -50 x count^2 at topic weight 0.5: -25 after the first forged CRL (out of the mesh, no
  // more gossip), -100 after the second, below the graylist threshold (-80; acceptFrom drops RPCs
  // only strictly below it) even with the +10 a peer may hold from the anomaly topic. A forged or
  // foreign-CA CRL is always deliberate. Decay 0.99/s (half-life ~70 s).
  invalidMessageDeliveriesWeight: -50,
  invalidMessageDeliveriesDecay: 0.99
}
