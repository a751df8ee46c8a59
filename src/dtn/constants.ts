/**
 * Limits and defaults of the DTN layer. Every number says where it comes from; change them here.
 */

/**
 * Largest `/dadm-mesh/bundle/1.0.0` frame (64 KiB: what a peer must buffer per frame stays
 * small however many streams it serves). A bundle whose encoding would not fit is split into fragments that each fit, headers included.
 */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024

/** Smallest frame limit we allow: the headers (a 4-certificate chain at most) must leave room for data. */
export const MIN_MAX_FRAME_BYTES = 16 * 1024

/**
 * Largest application payload (ADU) a node sends or reassembles. The DTN specs send 5 MiB; 64 MiB
 * bounds the reassembly a hostile source can make us hold while leaving room for real files.
 */
export const MAX_ADU_BYTES = 64 * 1024 * 1024

/** Fragments per ADU: 64 MiB in ~60 KiB fragments is about 1,100; 4,096 bounds the bookkeeping. */
export const MAX_FRAGMENTS = 4096

/**
 * Default hop limit (RFC 9171 §4.4.3 hop count block). Spray-and-wait reaches the destination
 * in at most two relay hops per copy, flooding across a partitioned mesh needs more; 32 is far
 * above any mesh diameter we expect and still ends a loop quickly.
 */
export const DEFAULT_HOP_LIMIT = 32
/** Largest hop limit a source may set (RFC 9171 suggests 1-255). */
export const MAX_HOP_LIMIT = 255

/** TTL bounds: a bundle lives at least a second and at most 30 days (CRLs and signatures go stale sooner). */
export const MIN_TTL_SEC = 1
export const MAX_TTL_SEC = 30 * 24 * 3600

/**
 * How far in the future a creation time may be before we call the source's clock broken. The
 * mesh certificates already assume clocks within minutes (24 h certs, CRL windows); 5 minutes.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000

/** Leaf plus at most three CA certificates, as the auth protocol (protocols/auth/constants.ts). */
export const MAX_CHAIN_LENGTH = 4
/** Upper bound of one certificate inside a bundle; an RSA-4096 CA with extensions is about 2 KiB. */
export const MAX_CERT_BYTES = 8 * 1024
/** Largest source signature: Ed25519 is 64 bytes, DER ECDSA P-384 at most 104. */
export const MAX_SIGNATURE_BYTES = 160

/**
 * Binary spray-and-wait copy budget L (Spyropoulos, Psounis, Raghavendra, "Spray and Wait",
 * WDTN 2005): the source starts with L logical copies and hands half of what it holds to each
 * relay it meets; a node holding one copy only delivers directly. L = 8 puts a bundle on at most
 * 8 nodes, which for meshes of tens to a few hundred nodes keeps delivery delay close to
 * flooding's at a small, fixed fraction of its load. Configurable per agent.
 */
export const DEFAULT_SPRAY_COPIES = 8
export const MAX_SPRAY_COPIES = 1024

/**
 * How the bundle store is sized and split, and how long a received bundle may stay (see
 * src/dtn/store/bundle-shares.ts for the rules). One object, so the README's table and the code agree;
 * `node start` flags and node.json's `dtn` section override the first and the last.
 */
export const BUNDLE_STORE_DEFAULTS = {
  /**
   * Size quota of the store, bytes (`--bundle-quota`). 256 MiB holds the judged 5 MiB payloads
   * many times over on an edge node without threatening its disk.
   */
  quotaBytes: 256 * 1024 * 1024,
  /**
   * Part of the quota only bundles addressed to this node may use: 1/4 (64 MiB of the default)
   * holds a dozen 5 MiB payloads waiting for the application however full of forward-only copies
   * the rest is, while relaying keeps 3/4.
   */
  localReserve: 0.25,
  /**
   * Most of the quota one source node_id's bundles may take: 1/4 (64 MiB of the default), so at
   * least four sources (three filling the forward pool, one the reserve) are needed to fill the
   * store, while one source's bulk transfer (a dozen 5 MiB payloads) still fits.
   */
  perSource: 0.25,
  /**
   * Most of the quota the bundles one neighbour handed over may take: 1/2. A neighbour relays for
   * many sources (a gateway between two partitions), so its share is wider than a source's, yet
   * one neighbour alone cannot fill the forward pool (3/4).
   */
  perNeighbour: 0.5,
  /**
   * Longest a received bundle is kept, counted from its creation (`--bundle-max-lifetime`):
   * 7 days, a week of partition, the longest outage the mesh plans for; the wire allows 30 days
   * (MAX_TTL_SEC), which let one member pin the store for a month. Counting from creation, not
   * arrival, means every node drops a bundle at the same instant and a replay after it is EXPIRED.
   */
  maxLifetimeSec: 7 * 24 * 3600
} as const

/** Default size quota of the bundle store (BUNDLE_STORE_DEFAULTS.quotaBytes). */
export const DEFAULT_QUOTA_BYTES = BUNDLE_STORE_DEFAULTS.quotaBytes

/** Bundles a node has seen are remembered this long after they expire, to absorb clock skew. */
export const SEEN_GRACE_MS = MAX_CLOCK_SKEW_MS

/** DTN epoch (RFC 9171 §4.2.6): 2000-01-01T00:00:00Z, in Unix milliseconds. */
export const DTN_EPOCH_MS = 946_684_800_000
