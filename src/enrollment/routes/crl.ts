import { Type } from '@sinclair/typebox'
import { CrlCache } from '../crl-cache.ts'
import { errorResponses } from '../schemas.ts'
import type { EnrollmentCa } from '../types.ts'
import type { FastifyInstance, FastifyReply } from 'fastify'

export const DER_TYPE = 'application/pkix-crl'
export const PEM_TYPE = 'application/x-pem-file'
/** Media types that ask for PEM text. */
const PEM_TYPES = new Set([PEM_TYPE, 'application/x-pem', 'application/pem-certificate-chain', 'text/plain'])
/**
 * Longest a cache may reuse a CRL without asking again: 60 s, so a revocation reaches pollers
 * within a minute; a conditional request costs them a 304 and no body. Never past nextUpdate.
 */
export const CRL_MAX_AGE_S = 60
/** Largest Accept / If-None-Match header we parse; real ones are a few dozen bytes. */
const MAX_HEADER_CHARS = 1024

/** True when the Accept header prefers a PEM type over DER (by q-value, DER wins ties). */
export function wantsPem (accept: string | undefined): boolean {
  if (accept == null || accept.length > MAX_HEADER_CHARS) { return false }
  let pemQ = 0
  let derQ = -1
  for (const part of accept.split(',').slice(0, 32)) {
    const [type, ...params] = part.trim().toLowerCase().split(';')
    const qParam = params.map(p => p.trim()).find(p => p.startsWith('q='))
    const q = qParam == null ? 1 : Number(qParam.slice(2))
    if (!Number.isFinite(q)) { continue }
    if (PEM_TYPES.has(type.trim())) { pemQ = Math.max(pemQ, q) } else if (type.trim() === DER_TYPE || type.trim() === 'application/*' || type.trim() === '*/*') { derQ = Math.max(derQ, q) }
  }
  return pemQ > 0 && pemQ > derQ
}

/** True when If-None-Match names `etag` (weak comparison, as RFC 9110 §13.1.2 asks) or is `*`. */
export function matchesEtag (ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch == null || ifNoneMatch.length > MAX_HEADER_CHARS) { return false }
  return ifNoneMatch.split(',').slice(0, 32).some(t => {
    const tag = t.trim().replace(/^W\//, '')
    return tag === '*' || tag === etag
  })
}

/**
 * `GET /v1/crl` (seed §7.3): the current CA-signed CRL, DER unless the Accept header asks for
 * PEM, with a strong ETag per representation, Cache-Control bounded by nextUpdate, and 304 for a
 * conditional request whose tag still matches. Public: a CRL carries no secret. Served from
 * `CrlCache`, so a request costs no signing, no store read and no encoding: a flood of fetches
 * is bounded by the CRL's own rate-limit bucket, not by the CA's work.
 */
export function crlRoute (app: FastifyInstance, ca: EnrollmentCa, now: () => Date): void {
  const cache = new CrlCache(ca)
  app.addHook('onClose', async () => { cache.close() })
  app.get('/v1/crl', {
    schema: {
      summary: 'The current CRL (DER, or PEM via Accept); ETag and 304 for conditional requests',
      querystring: Type.Object({
        scope: Type.Optional(Type.Union([Type.Literal('issuing'), Type.Literal('root')], { description: 'issuing (default): node certificates; root: revoked intermediates' }))
      }, { additionalProperties: false }),
      response: { 200: { description: 'CRL as application/pkix-crl or application/x-pem-file' }, ...errorResponses(429) }
    }
  }, async (request, reply: FastifyReply) => {
    const t = now()
    const scope = (request.query as { scope?: 'issuing' | 'root' }).scope ?? 'issuing'
    const crl = await cache.get(scope, t)
    const pem = wantsPem(request.headers.accept)
    const etag = pem ? crl.pemEtag : crl.derEtag
    const untilNext = Math.floor((crl.snapshot.nextUpdate - t.getTime()) / 1000)
    reply.header('etag', etag)
    reply.header('cache-control', `public, max-age=${Math.max(0, Math.min(CRL_MAX_AGE_S, untilNext))}, no-transform`)
    reply.header('last-modified', new Date(crl.snapshot.thisUpdate).toUTCString())
    reply.header('vary', 'Accept')
    if (matchesEtag(request.headers['if-none-match'], etag)) {
      return reply.code(304).send()
    }
    if (pem) {
      return reply.type(PEM_TYPE).send(crl.pem)
    }
    return reply.type(DER_TYPE).send(crl.der)
  })
}
