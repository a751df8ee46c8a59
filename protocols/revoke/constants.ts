import { MAX_CRL_MESSAGE_BYTES } from '../crl-gossip/constants.ts'

/**
 * Protocol id, limits and deadlines of `/dadm-mesh/revoke/1.0.0` (push of a CA-signed CRL to the
 * connected peers, who gossip it on). Every number says where it comes from.
 */

/** The libp2p protocol id (DESIGN.md protocol table); the version lets a v2 be negotiated beside it. */
export const PROTOCOL = '/dadm-mesh/revoke/1.0.0'

/** Version carried in the push frame, so a v2 can be refused with a clear code. */
export const WIRE_VERSION = 1

/**
 * Largest frame, checked from the length prefix BEFORE the body is read: a CRL message
 * (MAX_CRL_MESSAGE_BYTES, 256 KiB) plus the frame's own fields (type, version: a few bytes).
 */
export const MAX_FRAME_BYTES = MAX_CRL_MESSAGE_BYTES + 64

/**
 * One push, one answer: 5 s like the auth exchange (protocols/auth). A 256 KiB CRL crosses a
 * loopback QUIC link in well under a millisecond and is checked in about one; 5 s leaves room for
 * slow links without letting a silent peer hold a stream.
 */
export const DEFAULT_DEADLINE_MS = 5_000

/** Pushes are rare (one per revocation): two concurrent streams per connection are plenty. */
export const MAX_INBOUND_STREAMS = 2
export const MAX_OUTBOUND_STREAMS = 1
