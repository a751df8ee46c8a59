import { parseCertificate } from '../../pki/certificate.ts'
import { checkPublicKey } from '../../pki/key-policy.ts'
import { nodeIdentity } from '../../pki/node-identity.ts'
import { EKU } from '../../pki/x509-extensions.ts'
import { EXIT, parseCommand, reportError, UsageError } from '../io.ts'
import { CERT_INSPECT } from '../specs/cert-inspect.ts'
import { readPemFile } from './read-pem.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { CliIo } from '../io.ts'

const EKU_NAMES = new Map<string, string>([[EKU.CLIENT_AUTH, 'clientAuth'], [EKU.SERVER_AUTH, 'serverAuth'], [EKU.ANY, 'anyExtendedKeyUsage']])

/** The facts an operator asks about a certificate, as plain JSON-safe values. */
export function describeCertificate (cert: Certificate): Record<string, unknown> {
  let key: string
  try {
    const k = checkPublicKey(cert.spki)
    key = k.kind === 'ec' ? `EC ${k.curve ?? ''}` : k.kind === 'rsa' ? `RSA-${k.bits ?? 0}` : 'Ed25519'
  } catch (err) {
    key = `refused by key policy (${(err as { code?: string }).code ?? 'UNKNOWN'})`
  }
  let identity: { nodeId?: string, peerId?: string } = {}
  try { identity = nodeIdentity(cert) } catch {}
  const san = cert.subjectAltName
  return {
    subject: cert.subject.text,
    issuer: cert.issuer.text,
    serial: cert.serialHex,
    version: cert.version,
    not_before: new Date(cert.notBefore).toISOString(),
    not_after: new Date(cert.notAfter).toISOString(),
    key,
    node_id: identity.nodeId ?? null,
    peer_id: identity.peerId ?? null,
    san: san == null ? [] : [...san.uri.map(u => `URI:${u}`), ...san.dns.map(d => `DNS:${d}`), ...san.ip.map(i => `IP:${i}`), ...san.email.map(e => `email:${e}`)],
    ca: cert.basicConstraints?.ca ?? false,
    path_len: cert.basicConstraints?.pathLen ?? null,
    key_usage: [...(cert.keyUsage ?? [])],
    ext_key_usage: (cert.extKeyUsage ?? []).map(o => EKU_NAMES.get(o) ?? o),
    sha256_fingerprint: cert.fingerprint
  }
}

/** `cert inspect`: prints a certificate's fields for people, or as JSON with --json. */
export async function certInspect (args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, CERT_INSPECT)
  if (positionals.length !== 1) { throw new UsageError('give exactly one CERT.pem') }
  try {
    const ders = await readPemFile(positionals[0], 'CERTIFICATE')
    const described = ders.map(d => describeCertificate(parseCertificate(d)))
    if (values.json === true) {
      io.stdout.write(JSON.stringify(described.length === 1 ? described[0] : described, null, 2) + '\n')
    } else {
      for (const d of described) {
        for (const [k, v] of Object.entries(d)) {
          io.stdout.write(`${k.replace(/_/g, ' ').padEnd(20)}${Array.isArray(v) ? v.join(', ') : String(v)}\n`)
        }
        io.stdout.write('\n')
      }
    }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
