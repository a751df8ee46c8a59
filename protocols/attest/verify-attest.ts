import { AttestationError } from '../../src/attestation/errors.ts'
import { verifyQuote } from '../../src/attestation/verify-quote.ts'
import type { AttestFailureCode } from './errors.ts'
import type { Evidence } from '../../src/attestation/evidence.ts'
import type { AttestationPolicy } from '../../src/attestation/policy.ts'
import type { ReplayCache } from '../../src/attestation/replay-cache.ts'

/** The TPM a node_id is known to attest with (pinned by the CA at enrollment, or on first use). */
export interface DevicePin {
  akSpki: Uint8Array
  ekSpki?: Uint8Array
}

/** Everything the decision needs, gathered by the stream handler. */
export interface AttestCheckInput {
  /** The evidence map as decoded (shape unchecked beyond the codec). */
  evidence: unknown
  /** The nonce we sent, and when. */
  nonce: Uint8Array
  nonceIssuedAt: Date
  /** SPKI of the identity key the peer authenticated with on this connection. */
  identitySpki: Uint8Array
  policy: AttestationPolicy
  /** The peer's pinned TPM, if known. */
  pinned?: DevicePin
  replay?: ReplayCache
}

/** What the verifier concluded about one piece of evidence. */
export type AttestOutcome =
  | { ok: true, attested: boolean, type: 'tpm_quote' | 'none', device?: DevicePin }
  | { ok: false, code: AttestFailureCode }

/** What to do with a peer after an outcome: keep it, or demote it (or close, as the policy says). */
export type AttestAction = 'keep' | 'demote' | 'close'

/**
 * Judges a prover's answer: `verifyQuote` against the distributed policy and the peer's pinned
 * TPM, with one rule on top: a node_id known to attest with a TPM may not answer `none`. Pure
 * but for the replay cache; never throws.
 */
export function verifyAttestation (now: Date, input: AttestCheckInput): AttestOutcome {
  try {
    // [REJECT] a peer with a pinned TPM that stops quoting (downgrade to `none`)
    if (input.pinned != null && (input.evidence as { type?: unknown } | null)?.type === 'none') {
      return { ok: false, code: 'DOWNGRADED' }
    }
    const v = verifyQuote(now, input.evidence as Evidence, {
      nonce: input.nonce,
      identitySpki: input.identitySpki,
      nonceIssuedAt: input.nonceIssuedAt,
      ...(input.pinned != null ? { pinnedAkSpki: input.pinned.akSpki } : {}),
      ...(input.pinned?.ekSpki != null ? { pinnedEkSpki: input.pinned.ekSpki } : {})
    }, input.policy, input.replay)
    if (!v.attested || v.akSpki == null) { return { ok: true, attested: false, type: 'none' } }
    return { ok: true, attested: true, type: 'tpm_quote', device: { akSpki: v.akSpki, ...(v.ekSpki != null ? { ekSpki: v.ekSpki } : {}) } }
  } catch (err) {
    return { ok: false, code: err instanceof AttestationError ? err.code : 'MALFORMED_EVIDENCE' }
  }
}

/** The policy's answer to an outcome (or a protocol failure): keep the peer, demote it, or close. */
export function actionFor (policy: AttestationPolicy, outcome: AttestOutcome): AttestAction {
  if (outcome.ok) { return 'keep' }
  return policy.on_failure === 'close' ? 'close' : 'demote'
}
