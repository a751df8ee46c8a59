import { createHash } from 'node:crypto'
import { attestedDeviceOf } from '../pki/attested-extension.ts'
import { Certificate } from '../pki/certificate.ts'
import { requiresAttestedOrigin } from './policy.ts'
import type { AttestationPolicy } from './policy.ts'

/**
 * Distinct origin certificates whose verdict is kept. A verdict is a boolean per fingerprint;
 * far above the number of members a node hears from, and the oldest is dropped first.
 */
const MAX_CACHED = 4096

/**
 * "Does this origin's certificate say its device passed attestation?" for gossip and bundle
 * validators, under an enforcing policy (`requiresAttestedOrigin`): true when the policy does not
 * ask, or the leaf carries a well-formed attested-device extension. A missing or malformed
 * extension is false (the validators refuse with ORIGIN_NOT_ATTESTED). Each certificate is parsed
 * once: verdicts are cached by SHA-256 fingerprint, as the chain cache does.
 */
export class AttestedOriginCheck {
  readonly required: boolean
  readonly #cache = new Map<string, boolean>()

  constructor (policy: AttestationPolicy | undefined) {
    this.required = requiresAttestedOrigin(policy)
  }

  /** `leaf`: the parsed leaf or its DER; `fingerprint`: its SHA-256 hex when the caller has it. */
  accepts (leaf: Certificate | Uint8Array, fingerprint?: string): boolean {
    if (!this.required) { return true }
    const fp = fingerprint ?? (leaf instanceof Certificate ? leaf.fingerprint : createHash('sha256').update(leaf).digest('hex'))
    const hit = this.#cache.get(fp)
    if (hit != null) { return hit }
    let ok: boolean
    try {
      ok = attestedDeviceOf(leaf instanceof Certificate ? leaf : new Certificate(leaf)) != null
    } catch {
      ok = false
    }
    this.#cache.set(fp, ok)
    if (this.#cache.size > MAX_CACHED) { this.#cache.delete(this.#cache.keys().next().value as string) }
    return ok
  }
}
