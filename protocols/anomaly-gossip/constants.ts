/**
 * Topic, wire limits and clock tolerances of anomaly-signature gossip. Every number says where it
 * comes from; change them here, not at the call sites.
 */

/** The gossipsub topic (DESIGN.md protocol table); the version suffix lets a v2 topic run beside it. */
export const TOPIC = '/dadm-mesh/anomaly/1'

/**
 * Envelope format version, carried in every envelope so that a newer one can be ignored (not
 * punished) by older nodes. 2: the envelope carries the origin's signature and delegation.
 */
export const WIRE_VERSION = 2

/**
 * Largest encoded envelope, checked BEFORE decoding. An envelope is a payload (<= MAX_PAYLOAD_BYTES)
 * plus the origin chain: a mesh leaf (P-256, two SAN URIs, EKU) is about 0.7 KiB and an issuing CA
 * about 0.6 KiB (1.6 KiB measured for a whole envelope); an RSA-4096 CA is about 2 KiB. 16 KiB holds
 * the largest legal payload with a 4-certificate RSA chain and keeps a flood cheap to refuse.
 */
export const MAX_ENVELOPE_BYTES = 16 * 1024

/**
 * Largest encoded payload `{ type, value, meta }`. An anomaly signature is a hash, an indicator
 * or a rule id with a little metadata, never a raw log (DESIGN.md: the mesh shares signatures,
 * not data); 4 KiB is ten times the
 * largest such payload we produce and far too small to carry a useful log excerpt.
 */
export const MAX_PAYLOAD_BYTES = 4 * 1024

/** Leaf plus at most three CA certificates, the same bound as the auth hello (protocols/auth). */
export const MAX_CHAIN_LENGTH = 4

/**
 * The identity key's signature on a delegation. Identity keys are P-256 or Ed25519 (DESIGN.md),
 * and src/pki/identity-signature.ts verifies P-384 too: DER ECDSA P-256 is at most 72 bytes,
 * P-384 at most 104, Ed25519 exactly 64.
 */
export const MAX_IDENTITY_SIG_BYTES = 104

/**
 * The epoch a node signs by default: how long one delegation lets its gossip key sign. One
 * identity-key signature (a round trip to the TPM or HSM) per epoch instead of one per message;
 * a stolen epoch key signs for at most its epoch, less once the origin's certificate is revoked.
 * 6 h: four identity signatures a day, a quarter of the default certificate lifetime (24 h,
 * DESIGN.md). The delegation never outlives the certificate either.
 */
export const DEFAULT_EPOCH_MS = 6 * 60 * 60 * 1000

/**
 * Longest delegation a validator accepts (exp - nbf): the longest certificate the CA issues (7 d,
 * DESIGN.md), which no delegation may outlive anyway; refused before any signature is checked.
 */
export const MAX_DELEGATION_MS = 7 * 24 * 60 * 60 * 1000

/** One certificate inside `origin_cert`: an RSA-4096 CA with extensions is about 2 KiB. */
export const MAX_CERT_BYTES = 4 * 1024

/**
 * `message_id` is `<origin node_id>:<suffix>`. node_ids are at most 64 characters
 * (src/pki/node-identity.ts) and our suffix is a 36-character UUID; 128 leaves room for other
 * suffix schemes (a decimal sequence number) while keeping LevelDB keys and logs short.
 */
export const MAX_MESSAGE_ID_LENGTH = 128

/** Payload type: a short lower-case tag such as `sha256`, `ioc.domain`, `rule`. */
export const MAX_TYPE_LENGTH = 64

/** Payload value: a SHA-512 hex digest is 128 characters, a long domain 253; 1 KiB bounds the rest. */
export const MAX_VALUE_BYTES = 1024

/** Metadata entries per payload: a signature needs a handful (rule, score, source), and every entry is gossiped to every node. */
export const MAX_META_ENTRIES = 16

/** Metadata key length. */
export const MAX_META_KEY_LENGTH = 32

/** Metadata string value length. */
export const MAX_META_VALUE_LENGTH = 256

/**
 * Clock tolerance between origin, relays and us, configurable per node, +-5 min by default: loose
 * enough for hosts whose clocks drift apart, tight enough that an envelope is not honoured long
 * past its expiry. It bounds how far in the future a timestamp may be, and how long past its
 * expiry an envelope is ignored (not punished) as merely expired in transit.
 */
export const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000

/** Lifetime of a published signature when the caller names none: one hour of relevance. */
export const DEFAULT_TTL_MS = 60 * 60 * 1000

/**
 * Longest lifetime an envelope may claim (expiry - timestamp). The seen index keeps each id
 * until its expiry, so this bounds how long a replay can be recognised and how long an id stays
 * in memory; 24 h is the default certificate lifetime (DESIGN.md), beyond which the origin's
 * certificate would have been rotated anyway.
 */
export const MAX_TTL_MS = 24 * 60 * 60 * 1000

/** Shortest lifetime: one second, so an envelope cannot be born expired. */
export const MIN_TTL_MS = 1000

/** How often the service sweeps expired signatures out of the store. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60 * 1000
