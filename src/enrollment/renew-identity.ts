import { createHash } from 'node:crypto'
import { verifyTranscriptSignature } from '../../protocols/auth/transcript.ts'
import { parseCertificate } from '../pki/certificate.ts'
import { pemToDerAll } from '../util/pem.ts'
import { csrDerFromText } from './ca-service.ts'
import { renewalTranscript } from './renewal-proof.ts'
import type { RenewRequestBody } from './schemas.ts'

/** Most bytes a base64 field of the renewal decodes to (as the route accepts). */
const MAX_DECODED = 256

function strictBase64 (s: string): Uint8Array | undefined {
  const b = Buffer.from(s, 'base64')
  return s.length === 0 || b.length > MAX_DECODED || b.toString('base64') !== s ? undefined : new Uint8Array(b)
}

/**
 * The rate-limit identity of a `POST /v1/renew` body whose proof verifies under the key of the
 * certificate it presents, or undefined for any other body (the CA then refuses it with its own
 * code; this never decides a renewal).
 *
 * The identity is the certificate's SHA-256, not its node_id: at this point nothing says the CA
 * issued it, and anyone can mint a certificate naming someone else's node_id, so a node_id key
 * would let a stranger spend a victim's bucket. Only the holder of a certificate's key can make
 * its proof, so only that holder spends its bucket. It costs one signature check per renewal
 * more; the per-address bucket, checked first, bounds how many a stranger can make us run.
 */
export function renewIdentity (body: RenewRequestBody | undefined): string | undefined {
  if (body == null || typeof body.certificate !== 'string') { return undefined }
  try {
    const der = pemToDerAll(body.certificate, 'CERTIFICATE')[0]
    if (der == null) { return undefined }
    const cert = parseCertificate(der)
    const nonce = strictBase64(body.nonce)
    const proof = strictBase64(body.proof)
    if (nonce == null || proof == null) { return undefined }
    if (!verifyTranscriptSignature(cert.spki, renewalTranscript(nonce, csrDerFromText(body.csr)), proof)) { return undefined }
    return `renew:${createHash('sha256').update(cert.der).digest('base64url')}`
  } catch {
    return undefined
  }
}
