import { NodeEnrollError } from './node-enroll-error.ts'

/**
 * Why an HTTPS exchange with the pinned CA failed, in the three ways an operator fixes
 * differently: the service's certificate does not chain to the pinned root (wrong --ca-cert, or
 * another CA), it chains but does not name the host in the URL (enroll by an address `ca serve
 * --server-name` did not add), or nothing answered (address, port, firewall, deadline).
 */
export type TlsFailureKind = 'TLS_UNTRUSTED' | 'NAME_MISMATCH' | 'UNREACHABLE'

/** OpenSSL verification codes (as Node names them) that mean "does not chain to the pinned roots". */
const UNTRUSTED: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED',
  'CERT_REJECTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'INVALID_CA', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE'
])

export function tlsFailureKind (err: unknown): TlsFailureKind {
  const code = (err as { code?: unknown })?.code
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') { return 'NAME_MISMATCH' }
  if (typeof code === 'string' && UNTRUSTED.has(code)) { return 'TLS_UNTRUSTED' }
  return 'UNREACHABLE'
}

/** The NodeEnrollError for a failed exchange with `url`, naming the pinned file the operator gave. */
export function enrollTransportError (err: unknown, url: string, caCertFile = '--ca-cert'): NodeEnrollError {
  const detail = (err as Error)?.message ?? String(err)
  const host = new URL(url).hostname
  switch (tlsFailureKind(err)) {
    case 'TLS_UNTRUSTED':
      return new NodeEnrollError('TLS_UNTRUSTED', `the service at ${new URL(url).origin} presents a certificate that does not chain to the root pinned with ${caCertFile} (${detail}): pin this CA's root.pem`, { cause: err })
    case 'NAME_MISMATCH':
      return new NodeEnrollError('NAME_MISMATCH', `the service's certificate does not name ${host} (${detail}): use a --ca-url host it names (\`ca serve\` prints them at start), or restart \`ca serve\` with --server-name ${host}`, { cause: err })
    default:
      return new NodeEnrollError('UNREACHABLE', `cannot reach ${url}: ${detail}`, { cause: err })
  }
}
