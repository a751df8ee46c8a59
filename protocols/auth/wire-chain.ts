import { parseCertificate } from '../../src/pki/certificate.ts'
import { verifySignature } from '../../src/pki/signature.ts'

/**
 * The certificates a hello carries: our chain without a trailing self-signed certificate (the
 * mesh root), as TLS 1.3 allows (RFC 8446 §4.4.2). A peer anchors a path only in a root it
 * already trusts, never in one we send, so the root is 400 bytes for nothing, and those bytes
 * decide whether a hello fits one QUIC packet (1200 bytes before path-MTU discovery): with the
 * root, the hello and the reply each take two packets, and the second half comes through the
 * QUIC binding in a read of its own, on the critical path of every dial.
 *
 * Only a self-signed certificate is dropped: a self-issued one that another key signed (a CA
 * key-rollover certificate) can be a link the peer needs. Computed once per chain array (the
 * credentials hold one until rotation replaces it).
 */
const trimmed = new WeakMap<Uint8Array[], Uint8Array[]>()

export function wireChain (chain: Uint8Array[]): Uint8Array[] {
  let out = trimmed.get(chain)
  if (out == null) {
    out = chain.length > 1 && isSelfSigned(chain[chain.length - 1]) ? chain.slice(0, -1) : chain
    trimmed.set(chain, out)
  }
  return out
}

function isSelfSigned (der: Uint8Array): boolean {
  try {
    const cert = parseCertificate(der)
    return cert.selfIssued && verifySignature(cert.signatureAlgorithm, cert.keyObject, cert.tbs, cert.signature)
  } catch {
    // Not ours to judge here: the peer's verifier says what is wrong with it.
    return false
  }
}
