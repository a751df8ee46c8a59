/**
 * Wire constants of CA-signed mesh notices: "rotate now" and trust bundles, pushed on
 * `/dadm-mesh/rotate/1.0.0` (and gossiped on NOTICE_TOPIC where gossip carries them). Every
 * number says where it comes from.
 */

/** The push protocol id: one notice, one answer, per stream. */
export const PROTOCOL = '/dadm-mesh/rotate/1.0.0'

/** gossipsub topic for notices, when the node's gossip wiring carries them. */
export const NOTICE_TOPIC = '/dadm-mesh/notice/1'

/** Version inside the envelope and the body, so a v2 is refused with a clear code. */
export const WIRE_VERSION = 1

/** Domain separation of the signature: CBOR [NOTICE_LABEL, body bytes] is what the CA signs. */
export const NOTICE_LABEL = 'dadm-mesh/notice/1'

/** Largest node_id list of a targeted rotate-now; `--all` for more. 256 x 64 chars = 16 KiB. */
export const MAX_TARGETS = 256

/** Certificates in a signer chain or a trust bundle (roots + issuing CAs during a CA rotation). */
export const MAX_CERTS = 8

/** One certificate; an RSA-4096 CA with extensions is about 2 KiB (as protocols/auth). */
export const MAX_CERT_BYTES = 8 * 1024

/**
 * Largest encoded notice, checked from the length prefix before the body is read: a full target
 * list (16 KiB) or a bundle of MAX_CERTS certificates (at most 64 KiB, in practice under 8 KiB),
 * plus signer chain and signature.
 */
export const MAX_NOTICE_BYTES = 96 * 1024

/** A notice's lifetime when the operator names none: long enough for a partitioned node to hear it. */
export const DEFAULT_TTL_MS = 24 * 3600_000

/** Longest lifetime a node accepts: a week, the longest node certificate (DESIGN.md). */
export const MAX_TTL_MS = 7 * 24 * 3600_000

/** Clock tolerance on `iat`: +-5 min, the same as the gossip validators, since the CA's clock and ours differ like any two nodes'. */
export const MAX_SKEW_MS = 5 * 60_000

/** One push, one answer: 5 s like the auth exchange and the revoke push. */
export const DEFAULT_DEADLINE_MS = 5_000

/** Notices are rare: two concurrent streams per connection and direction are plenty. */
export const MAX_INBOUND_STREAMS = 2
export const MAX_OUTBOUND_STREAMS = 2

/** Pushes in flight at once when forwarding to every peer (a bootstrap server has hundreds). */
export const PUSH_CONCURRENCY = 16
