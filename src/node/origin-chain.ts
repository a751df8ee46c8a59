import { MAX_CHAIN_LENGTH } from '../../protocols/anomaly-gossip/constants.ts'
import { parseCertificate } from '../pki/certificate.ts'

/**
 * Our origin_cert as anomaly envelopes carry it: the leaf and its CA certificates without
 * self-signed roots (every node holds them), at most MAX_CHAIN_LENGTH.
 */
export function originChain (chain: Uint8Array[]): Uint8Array[] {
  return chain.filter((der, i) => {
    if (i === 0) { return true }
    const c = parseCertificate(der)
    return c.subject.key !== c.issuer.key
  }).slice(0, MAX_CHAIN_LENGTH)
}

/**
 * The origin chain of whatever chain `current` returns now: read per use, so a rotated
 * certificate counts at once; recomputed only when the leaf changes (parsing costs more than a
 * publish).
 */
export function currentOriginChain (current: () => Uint8Array[]): () => Uint8Array[] {
  let last: { leaf: Uint8Array, chain: Uint8Array[] } | undefined
  return () => {
    const chain = current()
    if (last?.leaf !== chain[0]) { last = { leaf: chain[0], chain: originChain(chain) } }
    return last.chain
  }
}
