import type { TopicScoreParams } from '@libp2p/gossipsub/score'

/**
 * Peer-score parameters of `/dadm-mesh/anomaly/1` (gossipsub v1.1 scoring as @libp2p/gossipsub
 * 17 computes it: score = min(sum of topicWeight * (P1 + P2 + P3 + P3b + P4), topicScoreCap) +
 * P5 app-specific + P6 IP colocation + P7 behaviour). The thresholds they are tuned against are
 * in gossipsub-options.ts: gossip -10, publish -50, graylist -80 (RPCs dropped).
 *
 * The aim: an honest relay that forwarded one or two messages of an origin revoked a moment
 * before it heard the CRL loses its mesh slot for a while but is never graylisted; a peer sending
 * invalid envelopes is graylisted after about seven (a 1,000 msg/s flood within milliseconds of
 * score time), and stays so for minutes.
 */
export const ANOMALY_TOPIC_SCORE_PARAMS: TopicScoreParams = {
  // The mesh's main traffic: full weight.
  topicWeight: 1,

  // P1 time in mesh: +0.01 per second, capped at 10 min (+6). Rewards stable mesh links a little;
  // with topicScoreCap 10 it can never outweigh more than two invalid messages.
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 600,

  // P2 first deliveries: +1 per message first delivered to us, capped at 5, decaying by half
  // every ~7 s (0.9 per 1 s decay interval). Anomalies are sporadic, so this stays small.
  firstMessageDeliveriesWeight: 1,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 5,

  // P3/P3b mesh delivery deficit: OFF. It punishes mesh peers that deliver fewer than a threshold
  // of messages per window, which misfires on a topic that is quiet most of the time (anomalies
  // are bursts, not a steady rate); Ethereum clients learned to disable it for sparse topics.
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 100,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,

  // P4 invalid messages (every validator REJECT): -2 x count^2. For a peer without positive
  // score: one rejection -2 (below 0: out of the mesh, still gossiped to), three -18 (below
  // gossip -10); seven -98, below graylist -80 even with the +10 cap of positive score. Decay
  // 0.99 per second: a half-life of about 70 s, so a flood of 1,000 keeps a peer graylisted for
  // about 8 minutes (until 2 x count^2 < 90), one mistake is forgotten in a few.
  invalidMessageDeliveriesWeight: -2,
  invalidMessageDeliveriesDecay: 0.99
}

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
