import { StrictNoSign } from '@libp2p/gossipsub'
import { GOSSIP_FANOUT_MAX, GOSSIP_FANOUT_MIN } from '../../src/ca/config.ts'
import { TOPIC as ANOMALY_TOPIC } from '../anomaly-gossip/constants.ts'
import { TOPIC as CRL_TOPIC } from '../crl-gossip/constants.ts'
import { NOTICE_TOPIC } from '../rotate-now/constants.ts'
import { meshFastMsgIdFn, meshMsgIdFnWith } from './msg-id.ts'
import { ANOMALY_TOPIC_SCORE_PARAMS, CRL_TOPIC_SCORE_PARAMS } from './score-params.ts'
import type { OriginProof } from './msg-id.ts'
import type { GossipsubOpts } from '@libp2p/gossipsub'

/**
 * The @libp2p/gossipsub (v17) options a mesh node runs with: `gossipsub(meshGossipsubOptions({
 * isMember }))`, registered as the libp2p service named `pubsub`. What each choice relies on was
 * read in the 17.1.1 sources:
 *
 * - StrictNoSign: messages carry only topic and data; gossipsub refuses any with `from`, `seqno`,
 * `signature` or `key`. Every mesh message proves its author inside its data (anomaly envelopes
 * their origin's delegated signature, CRLs and notices the CA's), and the id is derived from the
 * content (msg-id.ts). gossipsub's StrictSign would add a signature by the injecting node's
 * software host key, which proves nothing about the origin (anyone who copied that key file can
 * make one), costs an Ed25519 verification with a key import per message, and would change the
 * bytes when a node forwards an envelope another member signed. Measured: `npm run bench -- gossip`.
 * - Validation through `topicValidators` (set by the services), not `asyncValidation`: with
 * asyncValidation, gossipsub dispatches the `message` event before the application's verdict
 * and forwards only on `reportMessageValidationResult`; a topic validator runs before delivery
 * and forwarding (after msgIdFn and the duplicate cache), so an
 * invalid message is never delivered nor forwarded. Validators here return their result; a
 * thrown error becomes Ignore (no penalty) unless it carries ERR_TOPIC_VALIDATOR_REJECT.
 * - Unauthenticated peers: gossipsub has no accept/graft hook per peer. Three layers keep them out:
 * (1) the auth guard wraps gossipsub's stream handlers (protocols/auth guardRegisteredProtocols),
 * so an unauthenticated peer never reaches gossipsub's inbound stream, and identify runs only
 * after auth, so gossipsub's topology never opens an outbound stream to one; (2) P5 app-specific
 * score: -1000 for a peer that is not (or no longer) an authenticated member puts it below the
 * graylist threshold, so `acceptFrom` drops its RPCs (subscriptions, messages, control), it is
 * never grafted (GRAFTs from score < 0 are answered with PRUNE) and nothing is published or
 * gossiped to it. gossipsub caches scores for one heartbeat (1 s) and lets a peer that scored
 * >= 0 send up to 128 messages in the next second unchecked (ACCEPT_FROM_WHITELIST), so a
 * revoked peer may get that much through; (3) every validator ignores messages whose relay is
 * no longer a member (RELAY_NOT_MEMBER), which drops what was already queued. The node also
 * closes a revoked peer's connections, which removes it from gossipsub altogether.
 * - `directPeers` is left empty on purpose: direct peers bypass `acceptFrom` and scoring entirely.
 */

export interface MeshGossipsubInit {
  /** True while `peerId` (text) is an authenticated, unrevoked mesh member: the node's peer table. */
  isMember(peerId: string): boolean
  /**
   * P6 IP colocation weight. @default -5 (gossipsub's): penalises Sybil peers behind one address.
   * Simulations with every node on 127.0.0.1 must set 0 (DESIGN.md: it drops 6 to 8% of messages).
   */
  ipColocationFactorWeight?: number
  /** The mesh degree D (node.json `gossip_fanout`, from the CA); the other degrees follow it (`meshDegrees`). @default 6 */
  fanout?: number
  /**
   * The anomaly service's cached origin check: msgIdFn gives an envelope its content id only when
   * it holds (see msg-id.ts). @default none (ids from content alone: tools and tests)
   */
  originProven?: OriginProof
  /** Extra options merged last (D, heartbeat, ...). */
  overrides?: Partial<GossipsubOpts>
}

/**
 * Messages at least this long get IDONTWANTs (gossipsub v1.2): CRLs and other large messages, not
 * anomaly envelopes (about 1.6 KiB with their origin chain). An IDONTWANT is one control RPC to
 * each mesh peer for every message received, as many frames as the forwarding it may save; on WAN
 * links it reaches the peers after they have forwarded (they forward on validation, within a
 * millisecond), so for small messages it doubled the frames each node handles and saved few
 * copies. gossipsub's default threshold is 512 bytes. Measured in the simulation (steady-gossip,
 * 100 nodes, 50 ms links): see simulations/README.md.
 */
export const IDONTWANT_MIN_BYTES = 8 * 1024

/** Score given through P5 to peers that are not authenticated members: far below every threshold. */
export const NOT_MEMBER_SCORE = -1000

/**
 * gossipsub's mesh degrees for a fan-out D, scaled as its defaults are at D = 6 (Dlo 4, Dhi 12,
 * Dscore 4, Dout 2), so the invariants gossipsub relies on hold at any D: Dout < Dlo <= D <= Dhi,
 * Dout <= D/2, Dscore <= D. Throws RangeError outside GOSSIP_FANOUT_MIN..MAX.
 */
export function meshDegrees (fanout: number): Pick<GossipsubOpts, 'D' | 'Dlo' | 'Dhi' | 'Dscore' | 'Dout'> {
  if (!Number.isInteger(fanout) || fanout < GOSSIP_FANOUT_MIN || fanout > GOSSIP_FANOUT_MAX) {
    throw new RangeError(`gossip_fanout must be an integer from ${GOSSIP_FANOUT_MIN} to ${GOSSIP_FANOUT_MAX}, not ${String(fanout)}`)
  }
  const Dlo = Math.max(1, Math.round(fanout * 2 / 3))
  return { D: fanout, Dlo, Dhi: fanout * 2, Dscore: Dlo, Dout: Math.max(0, Math.min(Math.floor(fanout / 3), Dlo - 1)) }
}

/** The gossipsub options of a mesh node. */
export function meshGossipsubOptions (init: MeshGossipsubInit): Partial<GossipsubOpts> {
  return {
    ...meshDegrees(init.fanout ?? 6),
    globalSignaturePolicy: StrictNoSign,
    msgIdFn: meshMsgIdFnWith(init.originProven),
    // Byte-identical copies of a message skip msgIdFn and the validator (see msg-id.ts).
    fastMsgIdFn: meshFastMsgIdFn,
    // Only the mesh topics: gossipsub's topic and message caches are otherwise unbounded by topic
    // (messages on other topics are dropped before they reach a validator or the seen cache).
    allowedTopics: [ANOMALY_TOPIC, CRL_TOPIC, NOTICE_TOPIC],
    asyncValidation: false,
    emitSelf: false,
    // A node alone (partitioned, or the first up) still publishes: its own store keeps the
    // signature, and the mesh is delay-tolerant.
    allowPublishToZeroTopicPeers: true,
    // floodsub peers are unscored and get every message: the mesh speaks gossipsub only.
    fallbackToFloodsub: false,
    // Peer exchange would hand us addresses of peers we have not authenticated; discovery and the
    // auth protocol find peers instead.
    doPX: false,
    directPeers: [],
    // Members behind NAT are reached over relayed connections, which libp2p marks limited: gossip
    // runs on them as on any authenticated link (the relay's data limit bounds what it carries).
    runOnLimitedConnection: true,
    // One RPC frame: 4 CRL messages (256 KiB each) or 64 full envelopes (16 KiB). Larger frames
    // break the stream before anything is decoded (it-length-prefixed maxDataLength).
    maxInboundDataLength: 1024 * 1024,
    idontwantMinDataSize: IDONTWANT_MIN_BYTES,
    scoreParams: {
      topics: {
        [ANOMALY_TOPIC]: ANOMALY_TOPIC_SCORE_PARAMS,
        [CRL_TOPIC]: CRL_TOPIC_SCORE_PARAMS,
        // CA notices are as rare and as CA-signed as CRLs: only a forged one is worth scoring.
        [NOTICE_TOPIC]: CRL_TOPIC_SCORE_PARAMS
      },
      // Positive topic score is capped at 10 (gossipsub's default): good behaviour can offset a
      // few mistakes, never a flood.
      topicScoreCap: 10,
      appSpecificScore: (peerId: string) => init.isMember(peerId) ? 0 : NOT_MEMBER_SCORE,
      // Weight 1, so NOT_MEMBER_SCORE is the score itself.
      appSpecificWeight: 1,
      IPColocationFactorWeight: init.ipColocationFactorWeight ?? -5,
      // More than 10 peers from one IP before P6 counts (gossipsub default).
      IPColocationFactorThreshold: 10,
      // P7 (GRAFT during backoff, broken IWANT promises): gossipsub's defaults.
      behaviourPenaltyWeight: -10,
      behaviourPenaltyThreshold: 0,
      behaviourPenaltyDecay: 0.2,
      // Counters decay once a second; below 0.1 a counter counts as 0 (gossipsub defaults).
      decayInterval: 1000,
      decayToZero: 0.1,
      // A peer that disconnects keeps its score for an hour, so reconnecting does not wash out a penalty.
      retainScore: 3600 * 1000
    },
    scoreThresholds: {
      // gossipsub's defaults, which ANOMALY/CRL_TOPIC_SCORE_PARAMS are tuned against: below -10 no
      // IHAVE/IWANT gossip with the peer, below -50 nothing published to it, below -80 its RPCs
      // are dropped.
      gossipThreshold: -10,
      publishThreshold: -50,
      graylistThreshold: -80,
      acceptPXThreshold: 10,
      opportunisticGraftThreshold: 20
    },
    ...init.overrides
  }
}
