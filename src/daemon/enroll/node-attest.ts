import { evidenceToJson, MAX_NONCE_BYTES, MIN_NONCE_BYTES } from '../../attestation/evidence.ts'
import { isEnrollmentErrorCode } from '../../enrollment/errors.ts'
import { httpsRequestPinned } from './https-json.ts'
import { NodeEnrollError } from './node-enroll-error.ts'
import { enrollTransportError } from './tls-failure.ts'
import type { PcrBank } from '../../attestation/tpm-reader.ts'
import type { Tpm } from '../../attestation/tpm.ts'

/** What `GET /v1/enroll/nonce` told us, checked. */
export interface EnrollChallenge {
  nonce: Uint8Array
  bank: PcrBank
  pcrs: number[]
}

const BANKS: readonly PcrBank[] = ['sha1', 'sha256', 'sha384', 'sha512']

/** Fetches a nonce (and the PCR selection to quote) from the CA, trusting only the pinned root. */
export async function fetchEnrollChallenge (caUrl: string, caCertPem: string, timeoutMs?: number): Promise<EnrollChallenge> {
  const url = new URL('/v1/enroll/nonce', caUrl).toString()
  let reply
  try {
    reply = await httpsRequestPinned('GET', url, undefined, { caPem: caCertPem, maxBytes: 64 * 1024, ...(timeoutMs != null ? { timeoutMs } : {}) })
  } catch (err) {
    throw enrollTransportError(err, url)
  }
  let body: any
  try { body = JSON.parse(reply.body.toString('utf8')) } catch {}
  if (reply.status !== 200) {
    const code = body?.error?.code
    throw new NodeEnrollError('REFUSED', `the CA refused a nonce: ${isEnrollmentErrorCode(code) ? code : `HTTP ${reply.status}`}`, {
      status: reply.status,
      ...(isEnrollmentErrorCode(code) ? { serverCode: code } : {})
    })
  }
  const nonce = typeof body?.nonce === 'string' ? new Uint8Array(Buffer.from(body.nonce, 'base64')) : new Uint8Array(0)
  const pcrs: unknown = body?.pcrs
  if (nonce.length < MIN_NONCE_BYTES || nonce.length > MAX_NONCE_BYTES || !BANKS.includes(body?.pcr_bank) ||
    !Array.isArray(pcrs) || pcrs.length === 0 || pcrs.length > 24 || !pcrs.every(i => Number.isSafeInteger(i) && i >= 0 && i <= 23)) {
    throw new NodeEnrollError('BAD_RESPONSE', 'the nonce answer is not a nonce and a PCR selection')
  }
  return { nonce, bank: body.pcr_bank, pcrs: pcrs as number[] }
}

/**
 * The evidence for `/v1/enroll` or `/v1/rotate`: a fresh nonce from the CA, then a quote by the
 * TPM's AK over the PCRs the CA asked for, qualified by SHA-256(nonce || our identity SPKI).
 */
export async function enrollmentEvidence (opts: { caUrl: string, caCertPem: string, tpm: Tpm, identitySpki: Uint8Array, timeoutMs?: number }): Promise<Record<string, unknown>> {
  const challenge = await fetchEnrollChallenge(opts.caUrl, opts.caCertPem, opts.timeoutMs)
  await opts.tpm.ensureAk()
  const evidence = await opts.tpm.quote({ nonce: challenge.nonce, identitySpki: opts.identitySpki, pcrs: challenge.pcrs, bank: challenge.bank })
  return evidenceToJson(evidence)
}
