/**
 * Topic, wire limits and clock tolerances of CRL gossip. Every number says where it comes from;
 * change them here, not at the call sites.
 */

/** The gossipsub topic (DESIGN.md protocol table); the version suffix lets a v2 topic run beside it. */
export const TOPIC = '/dadm-mesh/crl/1'

/** Message format version, carried in every message so that a v2 is ignored (not punished) by v1 nodes. */
export const WIRE_VERSION = 1

/**
 * Largest CRL message, checked BEFORE decoding. Mesh certificates are short-lived (24 h default),
 * and the CA drops expired certificates from its CRLs (src/ca/ca-crl.ts), so a CRL lists only
 * the revocations of the last day or week: about 40 bytes an entry, 256 KiB holds over 6,000.
 * It stays well below gossipsub's RPC frame limit and bounds what one message can cost to parse.
 */
export const MAX_CRL_MESSAGE_BYTES = 256 * 1024

/**
 * Clock tolerance for thisUpdate in the future, ms: the same +-5 min default as anomaly gossip,
 * since the CA's clock and ours differ like any two nodes'.
 */
export const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000

/**
 * How long past its nextUpdate a CRL is still accepted, ms. Zero: an expired CRL no longer says
 * what is revoked, and the CA reissues its CRL at half its life (src/ca/ca-crl.ts), so a fresh one is always about.
 */
export const DEFAULT_CRL_GRACE_MS = 0
