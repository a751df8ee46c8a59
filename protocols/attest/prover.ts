import type { Evidence } from '../../src/attestation/evidence.ts'
import type { PcrBank } from '../../src/attestation/tpm-reader.ts'
import type { Tpm } from '../../src/attestation/tpm.ts'

/** What a verifier asked for: its nonce, the PCRs to quote, and the identity key to bind. */
export interface ProofRequest {
  nonce: Uint8Array
  pcrs: number[]
  bank: PcrBank
  /** SPKI of our identity key: the quote's extraData binds it with the nonce. */
  identitySpki: Uint8Array
  signal: AbortSignal
}

/** Produces fresh evidence for one challenge. */
export type EvidenceProver = (request: ProofRequest) => Promise<Evidence>

/** For platforms without a TPM: answers `none`, and the verifier's policy decides. */
export const noneProver: EvidenceProver = async () => ({ type: 'none' })

/**
 * Quotes with the node's TPM (tpm2-tools). The EK is re-derived and the AK loaded once, on the
 * first challenge (a TPM reset loses transient contexts: a failed quote reloads them once).
 */
export function tpmProver (tpm: Tpm): EvidenceProver {
  let ready: Promise<unknown> | undefined
  return async (req) => {
    ready ??= tpm.ensureAk()
    try {
      await ready
      return await tpm.quote({ nonce: req.nonce, identitySpki: req.identitySpki, pcrs: req.pcrs, bank: req.bank })
    } catch (err) {
      // next time, start over (the TPM may have restarted)
      ready = undefined
      throw err
    }
  }
}
