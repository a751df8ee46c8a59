import { X509Certificate } from 'node:crypto'
import type { LocalCredentials } from '../../protocols/auth/types.ts'

/** The validity of one leaf, parsed once per certificate (the leaf changes only at rotation). */
interface Validity { leaf: Uint8Array, notBefore: number, notAfter: number }

/**
 * Whether the node's own certificate is valid at `now()`. The member keeper asks it before every
 * redial: a node whose certificate lapsed (its CA out of reach) would present a chain every peer
 * refuses, and each refusal backs the node off at that peer, so that once it renews it would find
 * its links closed for the length of the back-off.
 */
export function ownCertificateValidity (credentials: () => LocalCredentials, now: () => number): () => boolean {
  let cached: Validity | undefined
  return () => {
    const leaf = credentials().chain[0]
    if (leaf == null) { return false }
    if (cached?.leaf !== leaf) {
      const cert = new X509Certificate(leaf)
      cached = { leaf, notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) }
    }
    const t = now()
    return t >= cached.notBefore && t <= cached.notAfter
  }
}
