import { createHash } from 'node:crypto'
import { AttestationError } from '../attestation/errors.ts'
import { parseEvidence } from '../attestation/evidence.ts'
import { ReplayCache } from '../attestation/replay-cache.ts'
import { verifyQuote } from '../attestation/verify-quote.ts'
import type { AttestationInput, AttestationRejectCode, AttestationVerdict, AttestationVerifier } from './attestation.ts'
import type { NonceStore } from './nonce-store.ts'
import type { AttestationErrorCode } from '../attestation/errors.ts'
import type { Evidence } from '../attestation/evidence.ts'
import type { AttestationPolicy } from '../attestation/policy.ts'

/** How each verifier refusal answers over HTTP: a few catalogue codes, each naming what to fix. */
const REJECT_CODES: Partial<Record<AttestationErrorCode, AttestationRejectCode>> = {
  NONE_NOT_ALLOWED: 'ATTESTATION_REQUIRED',
  NONCE_MISMATCH: 'ATTESTATION_NONCE_INVALID',
  EVIDENCE_TOO_OLD: 'ATTESTATION_NONCE_INVALID',
  REPLAYED: 'ATTESTATION_REPLAYED',
  PCR_SELECTION_MISMATCH: 'ATTESTATION_PCR_MISMATCH',
  PCR_DIGEST_MISMATCH: 'ATTESTATION_PCR_MISMATCH',
  PCR_MISSING: 'ATTESTATION_PCR_MISMATCH',
  PCR_NOT_ALLOWED: 'ATTESTATION_PCR_MISMATCH',
  AK_NOT_BOUND_TO_EK: 'ATTESTATION_DEVICE_MISMATCH',
  AK_MISMATCH: 'ATTESTATION_DEVICE_MISMATCH'
}

function reject (reason: string, code: AttestationRejectCode): AttestationVerdict {
  return { result: 'reject', reason, code }
}

export interface TpmAttestationVerifierInit {
  policy: AttestationPolicy
  /** Where `GET /v1/enroll/nonce` keeps the nonces it issued. */
  nonces: NonceStore
  /** Accepted quotes, so none is accepted twice. @default a new cache */
  replay?: ReplayCache
}

/**
 * The enrollment verifier for TPM 2.0 quotes: the evidence must answer a nonce this CA
 * issued (spent on first use), be qualified by SHA-256(nonce || the CSR's SPKI), pass
 * `verifyQuote` under the CA's policy, and, for a node_id that enrolled before, come from the
 * pinned TPM. A node_id with a pinned TPM may not fall back to `none`.
 */
export class TpmAttestationVerifier implements AttestationVerifier {
  readonly policy: AttestationPolicy
  readonly #nonces: NonceStore
  readonly #replay: ReplayCache

  constructor (init: TpmAttestationVerifierInit) {
    this.policy = init.policy
    this.#nonces = init.nonces
    this.#replay = init.replay ?? new ReplayCache()
  }

  async verify (input: AttestationInput): Promise<AttestationVerdict> {
    let evidence: Evidence
    try {
      evidence = parseEvidence(input.evidence ?? { type: 'none' })
    } catch (err) {
      return refusal(err)
    }
    const nowMs = input.now.getTime()
    if (evidence.type === 'none' && input.pinned != null) {
      // [REJECT] a node_id that enrolled with a TPM does not get to drop it (downgrade)
      return reject('DOWNGRADE_TO_NONE', 'ATTESTATION_DEVICE_MISMATCH')
    }
    let issuedAt = nowMs
    if (evidence.type === 'tpm_quote') {
      // [REJECT] this very quote was accepted before: named before the nonce check, which it
      // would fail too (its nonce is spent), so the caller learns what really happened
      const digest = createHash('sha256').update(evidence.quote).digest('hex')
      if (this.#replay.has(digest, nowMs)) { return reject('REPLAYED', 'ATTESTATION_REPLAYED') }
      // [REJECT] a nonce we never issued, already spent, or expired
      const taken = this.#nonces.take(evidence.nonce, nowMs)
      if (taken == null) { return reject('UNKNOWN_NONCE', 'ATTESTATION_NONCE_INVALID') }
      issuedAt = taken.issuedAt
    }
    try {
      const v = verifyQuote(input.now, evidence, {
        nonce: evidence.type === 'tpm_quote' ? evidence.nonce : new Uint8Array(0),
        identitySpki: input.csrSpki,
        nonceIssuedAt: new Date(issuedAt),
        ...(input.pinned?.ekSpki != null ? { pinnedEkSpki: input.pinned.ekSpki } : {}),
        ...(input.pinned != null ? { pinnedAkSpki: input.pinned.akSpki } : {})
      }, this.policy, this.#replay)
      if (!v.attested || v.akSpki == null) { return { result: 'none', reason: 'none-accepted-by-policy' } }
      return {
        result: 'accept',
        device: {
          akSpki: v.akSpki,
          ...(v.ekSpki != null ? { ekSpki: v.ekSpki } : {}),
          ...(v.akName != null ? { akName: v.akName } : {}),
          ...(v.ekName != null ? { ekName: v.ekName } : {})
        }
      }
    } catch (err) {
      return refusal(err)
    }
  }
}

function refusal (err: unknown): AttestationVerdict {
  if (err instanceof AttestationError) { return reject(err.code, REJECT_CODES[err.code] ?? 'ATTESTATION_REJECTED') }
  return reject('VERIFIER_ERROR', 'ATTESTATION_REJECTED')
}
