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
