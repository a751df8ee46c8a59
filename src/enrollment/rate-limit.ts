import rateLimit from '@fastify/rate-limit'
import { EnrollmentError } from './errors.ts'
import type { RateLimit } from './types.ts'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

type Limiter = (req: FastifyRequest) => Promise<{ isAllowed: boolean, isExceeded?: boolean, ttlInSeconds?: number }>

/**
 * Two limiters on every request, checked before the body is read or a client chain verified:
 * one per source address (IPv6 grouped by /64, the plugin's default) and one shared by all
 * clients. The plugin's own route hook runs only one limiter per request, so we take its
 * `createRateLimit` counters and answer from our catalogue with `Retry-After` ourselves.
 */
export async function installRateLimits (app: FastifyInstance, limits: { perAddress: RateLimit, global: RateLimit }): Promise<void> {
  await app.register(rateLimit, { global: false })
  const create = (app as unknown as { createRateLimit(o: object): Limiter }).createRateLimit
  const perAddress = create({ max: limits.perAddress.max, timeWindow: limits.perAddress.windowMs })
  const global = create({ max: limits.global.max, timeWindow: limits.global.windowMs, keyGenerator: () => 'global' })
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // Per address first: one noisy client then mostly fills its own bucket, not the shared one.
    for (const limiter of [perAddress, global]) {
      const r = await limiter(request)
      if (!r.isAllowed && r.isExceeded === true) {
        reply.header('retry-after', String(Math.max(1, r.ttlInSeconds ?? 1)))
        throw new EnrollmentError('RATE_LIMITED')
      }
    }
  })
}
