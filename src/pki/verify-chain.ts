import { Certificate, parseCertificate } from './certificate.ts'
import { ChainValidationError } from './chain-errors.ts'
import { resolvePolicy } from './chain-policy.ts'
import { parseCrl } from './crl.ts'
import { PathBuilder } from './path-builder.ts'
import type { ChainPolicy } from './chain-policy.ts'
import type { Crl } from './crl.ts'
import type { VerifiedPath } from './path-builder.ts'

export { DEFAULT_MESH_POLICY, resolvePolicy } from './chain-policy.ts'
export type { ChainPolicy, ResolvedChainPolicy } from './chain-policy.ts'
export type { VerifiedPath } from './path-builder.ts'

/**
 * Validates `leaf` up to one of `roots` at time `now`, building the path from `intermediates`
 * (in any order, extra certificates allowed) and applying `crls`. A pure function: no clock, no
 * I/O, no state between calls. Returns the path (leaf first, anchor last) or throws
 * ChainValidationError with a bounded code.
 *
 * Time: X.509 times have one-second resolution, so `now` is truncated to the whole second
 * before comparing; a certificate expired or not yet valid by 1 s fails, the bounds themselves pass.
 */
export function verifyChain (
  now: Date,
  leaf: Uint8Array | Certificate,
  intermediates: Array<Uint8Array | Certificate>,
  roots: Array<Uint8Array | Certificate>,
  crls: Array<Uint8Array | Crl>,
  policy: ChainPolicy = {}
): VerifiedPath {
  const p = resolvePolicy(policy)
  const t = Math.floor(now.getTime() / 1000) * 1000
  if (!Number.isFinite(t)) { throw new TypeError('verifyChain needs a valid date') }
  const leafCert = toCertificate(leaf, 'leaf')
  const anchors = roots.map(r => toCertificate(r, 'trusted root'))
  const pool: Certificate[] = []
  for (const c of intermediates) {
    // An unparseable extra certificate cannot be on any path; refusing the whole bundle for it
    // would let anyone who can append to a bundle break validation.
    try {
      pool.push(toCertificate(c, 'intermediate'))
    } catch {}
  }
  const crlList = crls.map(toCrl)
  return new PathBuilder(t, anchors, pool, crlList, p).build(leafCert, p)
}

function toCertificate (c: Uint8Array | Certificate, what: string): Certificate {
  if (c instanceof Certificate) { return c }
  try {
    return parseCertificate(c)
  } catch (err) {
    throw new ChainValidationError('MALFORMED_CERTIFICATE', `${what} cannot be parsed: ${(err as Error).message}`, { cause: err, depth: what === 'leaf' ? 0 : undefined })
  }
}

/** A CRL we were handed but cannot parse is refused (fail closed), not skipped. */
function toCrl (c: Uint8Array | Crl): Crl {
  if (!(c instanceof Uint8Array)) { return c }
  try {
    return parseCrl(c)
  } catch (err) {
    throw new ChainValidationError('CRL_INVALID', `CRL cannot be parsed: ${(err as Error).message}`, { cause: err })
  }
}
