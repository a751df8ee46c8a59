/**
 * Protocol id, limits and deadlines of `/dadm-mesh/attest/1.0.0`. Every number says where it
 * comes from; change them here, not at the call sites.
 */

/** The libp2p protocol id (DESIGN.md, protocol table). */
export const PROTOCOL = '/dadm-mesh/attest/1.0.0'

/** Version carried in the challenge, so a v2 can refuse v1 peers with a clear code. */
export const WIRE_VERSION = 1

/** Verifier nonce: 32 random bytes (the enrollment nonce size; evidence.ts accepts 16-64). */
export const NONCE_BYTES = 32

/**
 * Largest frame, checked from the length prefix before the body is read. A P-256 quote's
 * evidence is under 1 KiB (AK and EK TPM2B_PUBLIC ~ 90-130 bytes each, TPMS_ATTEST ~ 150, the
 * signature ~ 75, 24 SHA-512 PCR values in hex ~ 3.2 KiB at the very most); RSA EKs add 256.
 */
export const MAX_FRAME_BYTES = 16 * 1024

/** One frame plus a pipelined one; beyond this the stream is aborted, not buffered. */
export const MAX_READ_BUFFER_BYTES = 2 * MAX_FRAME_BYTES

/**
 * Deadline of one challenge -> evidence round trip. A swtpm quote through tpm2-tools is fast
 * (bench/hw.ts measures it); hardware TPMs take up to ~1 s per command and a quote is several
 * tpm2-tools runs (flushes included), so 15 s leaves room without letting a silent peer hold a
 * stream for long.
 */
export const DEFAULT_ROUND_TRIP_MS = 15_000

/** Time the verdict frame gets to leave before the stream is closed anyway. */
export const VERDICT_FLUSH_MS = 250

/**
 * Re-attestation interval, 1 h by default (the policy's recheck_interval_seconds): a compromised
 * device is found within the hour, while a quote an hour per peer costs the TPM little.
 */
export const DEFAULT_INTERVAL_MS = 60 * 60 * 1000

/**
 * A prover answers one peer at most once a second: each answer costs a TPM quote (tens of ms to
 * a second), so a hostile authenticated peer cannot keep our TPM busy. Honest verifiers ask
 * once an hour.
 */
export const DEFAULT_MIN_PROVER_INTERVAL_MS = 1_000

/** After a transient failure (the prover was busy, the connection went), try again this much later. */
export const DEFAULT_RETRY_MS = 30_000

/**
 * While a peer is pending, a transient failure is retried this soon rather than after
 * DEFAULT_RETRY_MS: the prover's once-a-second answer limit has passed by then, and the pending
 * deadline (10 s by default) must leave room for `max_transient_failures` tries.
 */
export const PENDING_RETRY_MS = 1_000

/** One attest stream per connection and direction at a time. */
export const MAX_INBOUND_STREAMS = 1
export const MAX_OUTBOUND_STREAMS = 1

/** Peers whose attestation state we keep; disconnected ones are dropped first. Far above any mesh degree. */
export const MAX_TRACKED_PEERS = 10_000
