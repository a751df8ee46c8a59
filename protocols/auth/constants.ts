/**
 * Protocol id, limits and deadlines of `/dadm-mesh/auth/1.0.0`. Every number says where it comes
 * from; change them here, not at the call sites.
 */

/** The libp2p protocol id (DESIGN.md, protocol table). */
export const PROTOCOL = '/dadm-mesh/auth/1.0.0'

/** Version carried inside the hello frame, so a v2 can refuse v1 peers with a clear code. */
export const WIRE_VERSION = 1

/** Domain-separation label at the head of every signed transcript (issue 4). */
export const TRANSCRIPT_LABEL = 'dadm-mesh/auth/1'

/**
 * Whole-exchange deadline: issue 4 asks for 5 s by default. A loopback QUIC dial takes about
 * 2.5 ms and a chain check well under 1 ms (DESIGN.md machine facts), so 5 s leaves room for slow
 * links and hardware signers without letting a silent peer hold a connection for long.
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
 * Re-authentication of a live connection (issue 9, certificate rotation): the same three frames
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
