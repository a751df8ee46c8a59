import { decodeEnvelope, envelopeDigest } from './codec.ts'
import { EnvelopeError } from './errors.ts'
import { RecentMemo } from './recent-memo.ts'
import type { AnomalyEnvelope } from './codec.ts'

/**
 * gossipsub computes the message id (protocols/mesh-gossipsub/msg-id.ts) and then runs the topic
 * validator on the very same bytes object, and both need the decoded envelope and its content
 * digest. Decoding and hashing once per message instead of twice is most of what the validator
 * costs on a warm chain cache, so both go through these memos, keyed by object identity and
 * bounded (recent-memo.ts). The validator releases a message's entries once it has its verdict.
 */

/** Envelopes decoded by msgIdFn, kept for the validator that runs next on the very same bytes object. */
const decoded = new RecentMemo<Uint8Array, AnomalyEnvelope | EnvelopeError>()

/** Content digests of decoded envelopes: msgIdFn and the validator need the same one, hashed once. */
const digests = new RecentMemo<AnomalyEnvelope, string>()

/** Decodes an envelope once per bytes object; msgIdFn and the validator share the result. */
export function peekEnvelope (data: Uint8Array): AnomalyEnvelope | EnvelopeError {
  let result = decoded.get(data)
  if (result == null) {
    try {
      // In place: gossipsub never changes a message's data (it forwards and caches it as is).
      result = decodeEnvelope(data, true)
    } catch (err) {
      result = err instanceof EnvelopeError ? err : new EnvelopeError('MALFORMED', 'envelope cannot be decoded', { cause: err })
    }
    decoded.set(data, result)
  }
  return result
}

/**
 * `envelopeDigest` of an envelope `peekEnvelope` (or the decoder) returned, computed once per
 * envelope object. Only for envelopes nobody mutates after decoding: the memo is by identity.
 */
export function contentDigest (envelope: AnomalyEnvelope): string {
  let digest = digests.get(envelope)
  if (digest == null) {
    digest = envelopeDigest(envelope)
    digests.set(envelope, digest)
  }
  return digest
}

/** Drops what the memos hold for a message whose validation is over. */
export function releaseEnvelope (data: Uint8Array): void {
  const envelope = decoded.get(data)
  if (envelope != null && !(envelope instanceof EnvelopeError)) { digests.delete(envelope) }
  decoded.delete(data)
}
