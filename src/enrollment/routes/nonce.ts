import { NonceResponse, errorResponses } from '../schemas.ts'
import type { NonceResponseBody } from '../schemas.ts'
import type { EnrollmentCa } from '../types.ts'
import type { FastifyInstance } from 'fastify'

/**
 * `GET /v1/enroll/nonce`: the challenge step before `/v1/enroll` or `/v1/rotate` with
 * TPM evidence. The nonce is single use and expires after the policy's maximum evidence age; the
 * answer also names the PCR bank and indexes the quote must cover. Public, like `/v1/enroll`: it
 * hands out only randomness, and the rate limits bound how much.
 */
export function nonceRoute (app: FastifyInstance, ca: EnrollmentCa, now: () => Date): void {
  app.get('/v1/enroll/nonce', {
    schema: {
      summary: 'A single-use nonce for attestation evidence, and the PCRs to quote',
      response: { 200: NonceResponse, ...errorResponses(429) }
    }
  }, async (_request, reply): Promise<NonceResponseBody> => {
    const c = ca.issueNonce(now())
    reply.header('cache-control', 'no-store')
    return {
      nonce: Buffer.from(c.nonce).toString('base64'),
      expires_at: new Date(c.expiresAt).toISOString(),
      pcr_bank: c.pcrBank,
      pcrs: c.pcrs
    }
  })
}
