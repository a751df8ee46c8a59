/**
 * Protocol id, limits and deadlines of `/dadm-mesh/auth/1.0.0`. Every number says where it comes
 * from; change them here, not at the call sites.
 */

/** The libp2p protocol id (DESIGN.md, protocol table). */
export const PROTOCOL = '/dadm-mesh/auth/1.0.0'

/**
 * Version carried inside the hello frames, so a peer of another version is refused with a clear
 * code (UNSUPPORTED_VERSION). 2: the listener proves first and the dialer's chain rides with its
 * proof; a version-1 hello (chain first) is refused before anything of ours is sent.
 */
export const WIRE_VERSION = 2

/**
 * Domain-separation label at the head of every signed transcript. It names the wire version, so
 * a signature made under one frame order can never be checked under the other.
 */
export const TRANSCRIPT_LABEL = 'dadm-mesh/auth/2'

/**
 * Whole-exchange deadline, 5 s by default. A loopback QUIC dial and a chain check take
 * milliseconds (DESIGN.md machine facts), so 5 s leaves room for slow links and hardware signers
 * without letting a silent peer hold a connection for long.
 */
export const DEFAULT_DEADLINE_MS = 5_000

/** Fresh random bytes per side per handshake; 32 bytes make a collision negligible (2^-128 birthday). */
export const NONCE_BYTES = 32

/**
 * Largest frame we accept, checked from the length prefix BEFORE the body is read or decoded. A
 * mesh leaf (P-256, two SAN URIs, EKU) is about 0.7 KiB and an RSA-4096 CA about 2 KiB; four of
 * them plus framing stay far below 16 KiB.
 */
export const MAX_FRAME_BYTES = 16 * 1024

/** Leaf plus at most three CA certificates (issuing CA, intermediate, root). */
export const MAX_CHAIN_LENGTH = 4

/** Upper bound of one certificate inside a hello; an RSA-4096 CA with extensions is about 2 KiB. */
export const MAX_CERT_BYTES = 8 * 1024

/** Largest signature we carry: Ed25519 is 64 bytes, DER ECDSA P-384 at most 104. */
export const MAX_SIGNATURE_BYTES = 160

/**
 * The read buffer of the auth stream: one frame plus a little for a pipelined next frame. Data
 * beyond this aborts the stream instead of being buffered (libp2p's default is 4 MiB).
 */
export const MAX_READ_BUFFER_BYTES = 2 * MAX_FRAME_BYTES

/** One auth stream per connection and direction; a second one is a protocol violation. */
export const MAX_INBOUND_STREAMS = 1
export const MAX_OUTBOUND_STREAMS = 1

/**
 * How many remote nonces we remember to name a replayed transcript (REPLAYED_TRANSCRIPT) rather
 * than just a bad signature. A node makes far fewer handshakes per day than this; the oldest entry
 * is forgotten first, so memory stays bounded (about 1.5 MiB at 96 bytes per entry).
 */
export const REPLAY_CACHE_SIZE = 16_384

/** How long a remote nonce is remembered: the default certificate lifetime (DESIGN.md, 24 h). */
export const REPLAY_CACHE_TTL_MS = 24 * 60 * 60 * 1000

/** Time we give the verdict frame to leave before we close a connection that failed auth. */
export const FAILURE_FLUSH_MS = 250

/**
 * Re-authentication of a live connection (certificate rotation): the same three frames
 * as the first exchange, on its own protocol id and transcript label, so a rotated certificate
 * replaces the one a session was authenticated with and the connection stays up.
 */
export const REAUTH_PROTOCOL = '/dadm-mesh/reauth/1.0.0'

/** Domain separation: a re-auth signature can never stand in for a first-auth one, or back. */
export const REAUTH_TRANSCRIPT_LABEL = 'dadm-mesh/reauth/1'

/** Both ends may re-authenticate at once (each rotated), plus one for the expiry watch. */
export const REAUTH_MAX_INBOUND_STREAMS = 2
export const REAUTH_MAX_OUTBOUND_STREAMS = 2

/**
 * Least time between two re-auths a peer may start on one connection, ms (real time). Each
 * costs us a signature with our identity key, which may sit in hardware: a peer must not be
 * able to make us sign in a loop. One rotation needs one re-auth, the expiry watch one more.
 */
export const REAUTH_MIN_INTERVAL_MS = 1_000

/**
 * How often the session watch looks at every authenticated connection, ms (real time). It
 * compares certificate lifetimes with the injected clock, so it works under fake and fast test
 * clocks and across a suspended process. Sessions whose certificate expired are refused by
 * `getAuthenticated` at once; the watch closes their connections within one period.
 */
export const SESSION_CHECK_MS = 1_000

/**
 * The watch asks a peer for its current certificate (a re-auth we start) once this fraction of
 * the peer certificate's lifetime is left, capped at REAUTH_MAX_LEAD_MS: a peer rotates at 2/3
 * of its lifetime and re-authenticates by itself, so this only catches peers whose push was lost.
 */
export const REAUTH_LEAD_FRACTION = 0.1
export const REAUTH_MAX_LEAD_MS = 10 * 60_000

/**
 * Caps and back-off of connections still waiting for auth (preauth-limits.ts), apart from
 * libp2p's maxConnections (300 by default in the node config).
 */
export const PREAUTH_DEFAULTS = {
  /**
   * All sources together: the same as the node's cap on inbound connections still upgrading
   * (connectionManager.maxIncomingPendingConnections, 64), since auth is the upgrade's last step.
   * It leaves 236 of the 300 connection slots that only authenticated members can hold.
   */
  maxPending: 64,
  /**
   * One IPv4 address or IPv6 /64: a quarter of the global cap, so filling it takes at least four
   * sources, and still room for a NAT, or a test host on loopback, starting many members at once.
   */
  maxPendingPerSource: 16,
  /**
   * Ten failed auths (the deadline counts) within a minute back a source off. An honest peer
   * fails at most a few times in a row (clock skew, a CRL not fetched yet, a revoked member
   * behind the same NAT); a certless flood of 16 waiting connections reaches ten at once.
   */
  strikesToBackoff: 10,
  strikeWindowMs: 60_000,
  /** 30 s first, as the PeerId back-off (node config `backoff.initialMs`), doubling up to 10 min. */
  backoffInitialMs: 30_000,
  backoffMaxMs: 10 * 60_000,
  /** About 1 MiB of strike records at most; the stalest source is forgotten first. */
  maxTrackedSources: 10_000
} as const

/**
 * Inbound streams a connection may have waiting for its auth verdict (held unanswered, then
 * handed to libp2p on success): an honest peer opens identify, ping, attest, gossipsub and the
 * DHT right after its own side succeeds, a moment before ours does. More is refused with "na".
 */
export const MAX_HELD_STREAMS = 16
