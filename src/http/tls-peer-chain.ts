import type { DetailedPeerCertificate, TLSSocket } from 'node:tls'

/**
 * Longest peer chain read off a TLS socket. The mesh has root, optional intermediate, leaf and,
 * on the node admin API, a session certificate; 8 leaves room for CA rotation without letting a
 * peer make us walk a long list.
 */
export const MAX_PEER_CHAIN = 8

/**
 * The certificates the TLS peer presented, leaf first, as DER, as Node links them
 * (`getPeerCertificate(true)`). Servers and clients that run with `rejectUnauthorized: false`
 * get any chain here, or none: this is untrusted input for our own validator.
 */
export function tlsPeerChain (socket: TLSSocket): Uint8Array[] {
  if (typeof socket.getPeerCertificate !== 'function') { return [] }
  const first = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined
  if (first?.raw == null || first.raw.length === 0) { return [] }
  const out: Uint8Array[] = []
  const seen = new Set<string>()
  let cur: DetailedPeerCertificate | undefined = first
  while (cur?.raw != null && out.length < MAX_PEER_CHAIN) {
    // Node links a self-signed certificate to itself; stop at the first repeat.
    if (seen.has(cur.fingerprint256)) { break }
    seen.add(cur.fingerprint256)
    out.push(new Uint8Array(cur.raw))
    cur = cur.issuerCertificate
  }
  return out
}
