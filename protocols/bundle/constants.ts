import { DEFAULT_MAX_FRAME_BYTES } from '../../src/dtn/constants.ts'

/**
 * Protocol id, limits and deadlines of `/dadm-mesh/bundle/1.0.0`. Every number says where it
 * comes from; change them here, not at the call sites.
 */

/** The libp2p protocol id (DESIGN.md, protocol table). */
export const PROTOCOL = '/dadm-mesh/bundle/1.0.0'

/**
 * A marker a relay node registers (`node start --relay`): identify lists it among the node's
 * protocols, so peers learn from the node's own config that it offers itself as a relay. A
 * stream on it carries nothing (it is closed at once).
 */
export const RELAY_PROTOCOL = '/dadm-mesh/bundle-relay/1.0.0'

/** Version inside the bundle frame, so a v2 can refuse v1 peers with a clear code. */
export const WIRE_VERSION = 1

/**
 * Largest frame, checked from the length prefix before the body is read, and again before
 * decoding: 64 KiB by default, small enough to buffer per peer and to cross a slow link within
 * FRAME_DEADLINE_MS. Bundles are fragmented at the source to fit.
 */
export const MAX_FRAME_BYTES = DEFAULT_MAX_FRAME_BYTES

/** An ACK frame is a few ids and a code: 512 bytes is ample. */
export const MAX_ACK_FRAME_BYTES = 512

/**
 * Bundle frames a sender may have on the wire ahead of their ACKs, and their bytes. The receiver
 * works on a whole window at once and its store writes what arrives together in one group commit
 * (one fsync), so the window sets how many bundles share an fsync: with 4, a backlog of small
 * bundles drained at about 250/s on this machine (fsync-bound); 64 small bundles per group lift
 * that many times. WINDOW_BYTES keeps a window of large fragments to 1 MiB (16 of 64 KiB).
 */
export const WINDOW = 64
export const WINDOW_BYTES = 1024 * 1024

/**
 * Read buffer of a bundle stream: a full window with its length prefixes, one frame beyond the
 * byte window (a sender may always send one frame), and an ACK. Data beyond this aborts the
 * stream instead of being buffered (libp2p's default is 4 MiB).
 */
export const MAX_READ_BUFFER_BYTES = WINDOW_BYTES + MAX_FRAME_BYTES + WINDOW * 8 + MAX_ACK_FRAME_BYTES

/**
 * Deadline for one frame and its ACK. A 64 KiB frame crosses a slow 1 Mbit/s link in about half
 * a second, and the receiver's sync write is small beside that (DESIGN.md);
 * 30 s tolerates bad links without letting a silent peer hold a stream for long.
 */
export const FRAME_DEADLINE_MS = 30_000

/** Bundles sent on one stream before it is closed and a new one opened (bounds a stream's life). */
export const MAX_FRAMES_PER_STREAM = 1024

/**
 * Streams per connection and direction: one drains the backlog while another carries a fresh
 * bundle; more only multiplies the disk writes a peer can make us queue.
 */
export const MAX_INBOUND_STREAMS = 2
export const MAX_OUTBOUND_STREAMS = 2
