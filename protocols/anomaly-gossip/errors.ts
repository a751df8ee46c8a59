import { MeshError } from '../../src/errors.ts'

/**
 * Why an anomaly envelope was not accepted. The set is bounded: it labels the metric
 * `dadm_mesh_gossip_validation_total{topic,result,code}`, and each code always comes with the
 * same action (see ANOMALY_CODE_ACTIONS), so a log line or a metric says what happened to the peer.
 */
export type AnomalyValidationCode =
  | 'RELAY_NOT_MEMBER' // ignore: the propagation source is no longer an authenticated mesh member
  | 'TOO_LARGE' // reject: envelope bytes above MAX_ENVELOPE_BYTES, refused before decoding
  | 'MALFORMED' // reject: not strict CBOR, or fields of the wrong type or size
  | 'UNSUPPORTED_VERSION' // ignore: a future envelope version; not the relay's fault
  | 'BAD_MESSAGE_ID' // reject: message_id is not `<origin>:<suffix>` in the allowed alphabet
  | 'BAD_LIFETIME' // reject: expiry not after timestamp, or lifetime above MAX_TTL_MS
  | 'FUTURE_TIMESTAMP' // reject: timestamp beyond now + skew
  | 'EXPIRED' // reject: expiry before now - skew
  | 'EXPIRED_IN_TRANSIT' // ignore: expired by our clock, but within the skew
  | 'REPLAYED' // reject: a message_id already accepted, same content, after gossipsub's own dedup window
  | 'CONFLICTING_PAYLOAD' // ignore: a message_id already accepted with other content, both signed by the origin (equivocation)
  | 'ORIGIN_REVOKED' // reject: origin node_id, or a certificate on its path, is revoked
  | 'CERT_UNTRUSTED' // reject: the origin chain leads to no trusted root (a foreign CA)
  | 'CERT_EXPIRED' // reject: a certificate on the origin path is expired or not yet valid
  | 'CERT_INVALID' // reject: any other chain failure (bad signature, profile, key, budget)
  | 'NOT_NODE_CERT' // reject: the leaf carries no single node_id + PeerId
  | 'PEER_ID_MISMATCH' // reject: the leaf binds another PeerId than the carrier's signer (a DTN bundle's)
  | 'DELEGATION_EXPIRED' // reject: the envelope's timestamp lies outside its delegation's window
  | 'BAD_DELEGATION' // reject: the delegation is not signed by the leaf's identity key, outlives the certificate, or is too long
  | 'BAD_ORIGIN_SIGNATURE' // reject: the envelope signature does not verify under the delegated gossip key
  | 'ORIGIN_MISMATCH' // reject: the leaf's node_id is not the envelope's origin
  | 'ORIGIN_NOT_ATTESTED' // reject: under an enforcing attestation policy, the origin's certificate lacks the attested-device extension
  | 'PAYLOAD_TOO_LARGE' // reject: payload bytes above MAX_PAYLOAD_BYTES
  | 'BAD_PAYLOAD' // reject: payload fails its schema (or is not canonical CBOR)

/** The one action each code stands for. */
export const ANOMALY_CODE_ACTIONS: Readonly<Record<AnomalyValidationCode, 'reject' | 'ignore'>> = Object.freeze({
  RELAY_NOT_MEMBER: 'ignore',
  TOO_LARGE: 'reject',
  MALFORMED: 'reject',
  UNSUPPORTED_VERSION: 'ignore',
  BAD_MESSAGE_ID: 'reject',
  BAD_LIFETIME: 'reject',
  FUTURE_TIMESTAMP: 'reject',
  EXPIRED: 'reject',
  EXPIRED_IN_TRANSIT: 'ignore',
  REPLAYED: 'reject',
  CONFLICTING_PAYLOAD: 'ignore',
  ORIGIN_REVOKED: 'reject',
  CERT_UNTRUSTED: 'reject',
  CERT_EXPIRED: 'reject',
  CERT_INVALID: 'reject',
  NOT_NODE_CERT: 'reject',
  PEER_ID_MISMATCH: 'reject',
  DELEGATION_EXPIRED: 'reject',
  BAD_DELEGATION: 'reject',
  BAD_ORIGIN_SIGNATURE: 'reject',
  ORIGIN_MISMATCH: 'reject',
  ORIGIN_NOT_ATTESTED: 'reject',
  PAYLOAD_TOO_LARGE: 'reject',
  BAD_PAYLOAD: 'reject'
})

export const ANOMALY_VALIDATION_CODES = Object.keys(ANOMALY_CODE_ACTIONS) as AnomalyValidationCode[]

/** Codes the envelope codec raises (a subset of the validation codes, same meaning). */
export type EnvelopeErrorCode = Extract<AnomalyValidationCode,
'TOO_LARGE' | 'MALFORMED' | 'UNSUPPORTED_VERSION' | 'BAD_MESSAGE_ID' | 'PAYLOAD_TOO_LARGE' | 'BAD_PAYLOAD'>

/** Raised by the envelope and payload codec. */
export class EnvelopeError extends MeshError<EnvelopeErrorCode> {
  static name = 'EnvelopeError'
}

/** Local failures of the anomaly gossip service (publishing, lifecycle). */
export type AnomalyGossipErrorCode =
  | 'INVALID_TTL' // ttl outside [MIN_TTL_MS, MAX_TTL_MS]
  | 'INVALID_ID' // a promised message_id suffix that is not a UUID
  | 'NO_CREDENTIALS' // no usable chain of our own to put in origin_cert
  | 'NOT_STARTED' // publish before start() or after stop()
  | 'NO_PUBSUB' // the libp2p node has no gossipsub service under `pubsub`
  | 'NO_SIGNER' // publishing needs the identity signer (init.origin().signer)
  | 'DUPLICATE' // a submitted envelope we already hold, byte for byte or in content

/** Raised by the anomaly gossip service to its caller. */
export class AnomalyGossipError extends MeshError<AnomalyGossipErrorCode> {
  static name = 'AnomalyGossipError'
}

/** A submitted envelope (pre-signed publication, `gossip verify`) refused with the validator's code. */
export class AnomalyRefusedError extends MeshError<AnomalyValidationCode> {
  static name = 'AnomalyRefusedError'
  readonly action: 'reject' | 'ignore'

  constructor (code: AnomalyValidationCode, message?: string) {
    super(code, message ?? `envelope refused: ${code}`)
    this.action = ANOMALY_CODE_ACTIONS[code]
  }
}
