import { refusal, relayIsMember } from '../gossip-common/refusal.ts'
import { decodeEnvelope, decodePayload } from './codec.ts'
import { MAX_TTL_MS } from './constants.ts'
import { contentDigest } from './envelope-memo.ts'
import { ANOMALY_CODE_ACTIONS, EnvelopeError } from './errors.ts'
import { checkOrigin } from './origin-check.ts'
import type { AnomalyEnvelope, AnomalyPayload } from './codec.ts'
import type { AnomalyValidationCode } from './errors.ts'
import type { OriginChecked, OriginCheckContext } from './origin-check.ts'
import type { Certificate } from '../../src/pki/certificate.ts'

export type { OriginChainVerifier } from './origin-check.ts'

/**
 * The anomaly-envelope validator: a pure function of the clock, the message and a context of
 * lookups. No I/O, no state change; the gossipsub adapter applies the verdict. Cheap checks come
 * first so that a flood of junk costs a size compare or a decode, not a signature verification.
 *
 * The envelope proves its origin by itself (origin-proof.ts): gossipsub runs with StrictNoSign,
 * so no relay's or host key's signature is involved, and a host key is worth nothing to a forger
 * (BAD_ORIGIN_SIGNATURE). The signature check comes last, after time, replay, revocation, the
 * chain (cached) and the delegation (cached).
 */

/** What the store remembers of an accepted message, enough to tell a replay from a conflict. */
export interface SeenRecord {
  digest: string
}

export interface AnomalyValidationInput {
  /** The gossip message data: the encoded envelope. */
  envelopeBytes: Uint8Array
  /** The propagation source: the peer that relayed the message to us (PeerId text). */
  from: string
  /**
   * The carrier's own signer, when it has one (a DTN bundle's PeerId): the origin certificate
   * must bind it. Gossip messages have none (StrictNoSign).
   */
  signerPeerId?: string
  /** The envelope, if the same bytes were decoded already (by msgIdFn); never trusted beyond `envelopeBytes`. */
  decoded?: AnomalyEnvelope | EnvelopeError
  /** `checkOrigin` of `decoded`, if msgIdFn ran it already (same envelope object, same context). */
  origin?: OriginChecked | AnomalyValidationCode
}

export interface AnomalyValidationContext extends OriginCheckContext {
  /** Accepted message ids still within their lifetime (the anomaly store's index). */
  seen(messageId: string): SeenRecord | undefined
  /** Set lookup of revoked node_ids (operator deny list); certificates are revoked by issuer + serial inside `verifier`. */
  isRevoked?(nodeId: string): boolean
  /** Clock tolerance, ms. @default DEFAULT_MAX_SKEW_MS at the adapter */
  maxSkewMs: number
  /** Longest lifetime an envelope may claim. @default MAX_TTL_MS */
  maxTtlMs?: number
  /** True while `peerId` is an authenticated, unrevoked mesh member. @default every relay is */
  isMember?(peerId: string): boolean
}

export interface AnomalyAccepted {
  action: 'accept'
  envelope: AnomalyEnvelope
  payload: AnomalyPayload
  /** See `envelopeDigest`. */
  digest: string
  /** The origin as its certificate names it (nodeId equals envelope.origin, peerId the certificate's). */
  origin: { nodeId: string, peerId: string }
  leaf: Certificate
}

export interface AnomalyRefused {
  action: 'reject' | 'ignore'
  code: AnomalyValidationCode
}

/**
 * A second version of a message_id we hold, as valid as the first: its origin's chain verifies
 * and its origin's delegated gossip key signed it. Only then is it evidence of equivocation by that origin; a conflicting envelope that
 * fails any of those checks is refused with that check's code and says nothing about the origin.
 */
export interface AnomalyConflict extends AnomalyRefused {
  code: 'CONFLICTING_PAYLOAD'
  messageId: string
  origin: { nodeId: string, peerId: string }
  /** Digest of the version we hold (the first we accepted). */
  heldDigest: string
  /** Digest of this version. */
  conflictingDigest: string
}

export type AnomalyVerdict = AnomalyAccepted | AnomalyRefused | AnomalyConflict

/** True for a verdict that reports an equivocation (see AnomalyConflict). */
export function isConflict (v: AnomalyVerdict): v is AnomalyConflict {
  return v.action !== 'accept' && v.code === 'CONFLICTING_PAYLOAD' && 'heldDigest' in v
}

function refuse (code: AnomalyValidationCode): AnomalyRefused {
  return refusal(ANOMALY_CODE_ACTIONS, code)
}

/** Validates one anomaly envelope at `now` (ms since the epoch); never throws for bad input. */
export function validateAnomaly (now: number, input: AnomalyValidationInput, ctx: AnomalyValidationContext): AnomalyVerdict {
  // [IGNORE] The relay is no longer an authenticated member (see relayIsMember).
  if (!relayIsMember(ctx.isMember, input.from)) { return refuse('RELAY_NOT_MEMBER') }

  // [REJECT] The envelope is at most MAX_ENVELOPE_BYTES, checked before decoding; the payload at
  // most MAX_PAYLOAD_BYTES. [REJECT] It is strict CBOR with the fields and sizes of the schema, and
  // message_id is `<origin>:<suffix>`. [IGNORE] A newer envelope version.
  const decoded = input.decoded ?? tryDecode(input.envelopeBytes)
  if (decoded instanceof EnvelopeError) { return refuse(decoded.code) }
  const envelope: AnomalyEnvelope = decoded

  // [REJECT] The lifetime is positive and at most maxTtlMs (it bounds how long we must remember the id).
  const life = envelope.expiry - envelope.timestamp
  if (life <= 0 || life > (ctx.maxTtlMs ?? MAX_TTL_MS)) { return refuse('BAD_LIFETIME') }

  // [REJECT] The timestamp is not beyond now + skew.
  if (envelope.timestamp > now + ctx.maxSkewMs) { return refuse('FUTURE_TIMESTAMP') }

  // [REJECT] The envelope has not expired by more than the skew. [IGNORE] Expired by our clock
  // but within the skew: a relay whose clock lags ours forwarded it honestly.
  if (now > envelope.expiry + ctx.maxSkewMs) { return refuse('EXPIRED') }
  if (now > envelope.expiry) { return refuse('EXPIRED_IN_TRANSIT') }

  // [REJECT] The message_id was not accepted before with this content. Every copy that reaches us
  // already passed gossipsub's own duplicate cache (msgIdFn binds the message_id to topic, this
  // digest and the origin's signature), which absorbs honest multi-path copies and copies with
  // another chain without penalty; a copy that gets here is a replay. Other content under a held id
  // is judged at the end, once the whole envelope is known to be the origin's.
  const digest = contentDigest(envelope)
  const seen = ctx.seen(envelope.message_id)
  if (seen?.digest === digest) { return refuse('REPLAYED') }

  // [REJECT] The origin node_id is not revoked (Set lookup).
  if (ctx.isRevoked?.(envelope.origin) === true) { return refuse('ORIGIN_REVOKED') }

  // [REJECT] The origin's chain, certificate, delegation and signature (see checkOrigin).
  const checked = input.origin ?? checkOrigin(new Date(now), envelope, ctx, input.signerPeerId)
  if (typeof checked === 'string') { return refuse(checked) }
  const { leaf, origin } = checked

  // [REJECT] The payload fits its schema and is canonical CBOR (checked last: it is opaque until here).
  let payload: AnomalyPayload
  try {
    payload = decodePayload(envelope.payload)
  } catch (err) {
    return refuse(err instanceof EnvelopeError ? err.code : 'BAD_PAYLOAD')
  }

  // [IGNORE] A second version of a message_id we hold (CONFLICTING_PAYLOAD): the first version
  // stays. Everything above passed, so the origin itself signed both: equivocation, reported with
  // the evidence. Ignored rather than rejected: the relay may be an honest node that heard this
  // version first and forwarded it, and scoring it would let an equivocating origin that splits
  // the mesh turn honest nodes against each other (seven P4 rejections graylist a peer).
  if (seen != null) {
    return {
      action: ANOMALY_CODE_ACTIONS.CONFLICTING_PAYLOAD,
      code: 'CONFLICTING_PAYLOAD',
      messageId: envelope.message_id,
      origin,
      heldDigest: seen.digest,
      conflictingDigest: digest
    }
  }

  return {
    action: 'accept',
    envelope,
    payload,
    digest,
    origin,
    leaf
  }
}

function tryDecode (bytes: Uint8Array): AnomalyEnvelope | EnvelopeError {
  try {
    return decodeEnvelope(bytes)
  } catch (err) {
    return err instanceof EnvelopeError ? err : new EnvelopeError('MALFORMED', 'envelope cannot be decoded', { cause: err })
  }
}
