import { enforceLimit, installRateLimiting } from '../http/rate-limit.ts'
import { clientIdentity } from './client-auth.ts'
import { EnrollmentError } from './errors.ts'
import { addressKey, bucketOf } from './rate-buckets.ts'
import { renewIdentity } from './renew-identity.ts'
import type { BucketName, RateLimits } from './rate-buckets.ts'
import type { RenewRequestBody } from './schemas.ts'
import type { Limiter } from '../http/rate-limit.ts'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify'

const IDENTITY_KEY = Symbol('dadm-mesh.rate-identity')
/** Where a route's config keeps its bucket. */
const BUCKET = Symbol('dadm-mesh.rate-bucket')

/** Answers RATE_LIMITED with Retry-After when `limiter` counts this request beyond its budget. */
async function check (limiter: Limiter, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await enforceLimit(limiter, request, reply, () => new EnrollmentError('RATE_LIMITED'))
}

/** The proved client identity of a request, if authentication ran and passed. */
function provedIdentity (request: FastifyRequest): string | undefined {
  try {
    const id = clientIdentity(request)
    return `${id.role}:${id.subject}`
  } catch {
    return undefined
  }
}

/**
 * Installs the buckets of rate-buckets.ts on the shared limiters (installRateLimiting), each
 * remembering at most `cacheEntries` keys.
 *
 * Before the body is read or a client chain verified, one hook checks the request's bucket per
 * source address and then, for the public buckets, the shared budget: per address first, so a
 * noisy client mostly fills its own bucket and stops counting against the shared one. After
 * authentication (a hook appended to each authenticated route, after the route's own
 * client-certificate hook), the request is counted per proved identity; `POST /v1/renew`, which
 * authenticates by a proof in its body, is counted per identity once that proof verifies.
 *
 * Must run before the routes are added (it hooks their registration).
 */
export async function installRateLimits (app: FastifyInstance, limits: RateLimits): Promise<void> {
  const make = await installRateLimiting(app, limits.cacheEntries)
  const byAddress = (req: FastifyRequest): string => addressKey(req.ip)
  const shared = (): string => 'global'
  const pre: Record<ReturnType<typeof bucketOf>, Limiter[]> = {
    enrollment: [make(limits.enrollment.perAddress, byAddress), make(limits.enrollment.global, shared)],
    crl: [make(limits.crl.perAddress, byAddress), make(limits.crl.global, shared)],
    authenticated: [make(limits.authenticated.perAddress, byAddress)]
  }
  const perIdentity = make(limits.authenticated.perIdentity, req => (req as unknown as Record<symbol, string>)[IDENTITY_KEY])

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const bucket = (request.routeOptions.config as { [BUCKET]?: BucketName } | undefined)?.[BUCKET] ?? 'enrollment'
    for (const limiter of pre[bucket]) {
      await check(limiter, request, reply)
    }
  })

  const afterAuth: onRequestHookHandler = async function (request, reply) {
    const id = provedIdentity(request)
    if (id == null) { return }
    (request as unknown as Record<symbol, string>)[IDENTITY_KEY] = id
    await check(perIdentity, request, reply)
  }
  const afterProof: preHandlerHookHandler = async function (request, reply) {
    const id = renewIdentity(request.body as RenewRequestBody | undefined)
    if (id == null) { return }
    (request as unknown as Record<symbol, string>)[IDENTITY_KEY] = id
    await check(perIdentity, request, reply)
  }
  // Each route's bucket is fixed when it is added: a route that checks a client certificate
  // (requireClientCert's hook) is authenticated whatever its path, so a new mutual-TLS route
  // cannot end up counted in a public bucket; the others go by rate-buckets.ts's table.
  app.addHook('onRoute', (route: RouteOptions) => {
    const hooks = toArray(route.onRequest)
    const bucket = hooks.some(h => h.name === 'clientCertHook') ? 'authenticated' : bucketOf(String(route.method), route.url)
    route.config = { ...route.config, [BUCKET]: bucket } as RouteOptions['config']
    if (bucket === 'authenticated') { route.onRequest = [...hooks, afterAuth] }
    if (route.method === 'POST' && route.url === '/v1/renew') {
      route.preHandler = [afterProof, ...toArray(route.preHandler)]
    }
  })
}

function toArray<T> (v: T | T[] | undefined): T[] {
  if (v == null) { return [] }
  return Array.isArray(v) ? v : [v]
}
