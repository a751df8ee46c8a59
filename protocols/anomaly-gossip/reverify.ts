import { decodeEnvelope, decodePayload } from './codec.ts'
import { EnvelopeError } from './errors.ts'
import { checkOrigin } from './origin-check.ts'
import type { AnomalyEnvelope, AnomalyPayload } from './codec.ts'
import type { AnomalyValidationCode } from './errors.ts'
import type { OriginCheckContext } from './origin-check.ts'

/**
 * Re-verification of a stored envelope (`gossip verify`): is it still its origin's, as far as
 * this node knows NOW? The chain is judged at the envelope's timestamp (the certificate it was
 * signed under may have expired since, which does not make the message forged), revocation by
 * the current CRLs and deny list (a certificate revoked since then makes it suspect), and the
 * delegation and signature as on receipt. Expiry is reported, not refused: an operator may ask
 * about an old message. Pure but for the verifier's and delegations' caches.
 */

export interface StoredVerification {
  /** True when the origin proof holds today. */
  valid: boolean
  /** The refusal, when not valid. */
  code?: AnomalyValidationCode
  envelope?: AnomalyEnvelope
  payload?: AnomalyPayload
  /** The origin as its certificate names it, when the proof holds. */
  origin?: { nodeId: string, peerId: string }
  /** True when the message's own expiry has passed (information only). */
  expired: boolean
}

export interface ReverifyContext extends OriginCheckContext {
  /** Revoked node_ids (operator deny list). @default none */
  isRevoked?(nodeId: string): boolean
}

/** Verifies stored envelope bytes again at `now` (ms). Never throws. */
export function reverifyEnvelope (now: number, bytes: Uint8Array, ctx: ReverifyContext): StoredVerification {
  let envelope: AnomalyEnvelope
  try {
    envelope = decodeEnvelope(bytes)
  } catch (err) {
    return { valid: false, code: err instanceof EnvelopeError ? err.code : 'MALFORMED', expired: false }
  }
  const expired = now > envelope.expiry
  if (ctx.isRevoked?.(envelope.origin) === true) { return { valid: false, code: 'ORIGIN_REVOKED', envelope, expired } }
  const checked = checkOrigin(new Date(envelope.timestamp), envelope, ctx)
  if (typeof checked === 'string') { return { valid: false, code: checked, envelope, expired } }
  try {
    return { valid: true, envelope, payload: decodePayload(envelope.payload), origin: checked.origin, expired }
  } catch (err) {
    return { valid: false, code: err instanceof EnvelopeError ? err.code : 'BAD_PAYLOAD', envelope, expired }
  }
}
