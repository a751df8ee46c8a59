import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** At most `max` requests per `windowMs`, per key. */
export interface RateLimit {
  max: number
  windowMs: number
}

/** One counter: counts `request` under its key and says whether it is over budget. */
export type Limiter = (request: FastifyRequest) => Promise<{ isAllowed: boolean, isExceeded?: boolean, ttlInSeconds?: number }>

/** Makes a counter of its own for `limit`, keyed by `key`. */
export type LimiterFactory = (limit: RateLimit, key: (request: FastifyRequest) => string) => Limiter

/**
 * Registers `@fastify/rate-limit` without its global hook and hands out its `createRateLimit`
 * counters, each with its own LRU store of at most `cacheEntries` keys, so that a service can run
 * several limiters on one request (the plugin's route hook runs only one) and answer from its own
 * catalogue (see `enforceLimit`).
 */
export async function installRateLimiting (app: FastifyInstance, cacheEntries: number): Promise<LimiterFactory> {
  await app.register(rateLimit, { global: false })
  const create = (app as unknown as { createRateLimit(o: object): Limiter }).createRateLimit
  return (limit, key) => create({ max: limit.max, timeWindow: limit.windowMs, cache: cacheEntries, keyGenerator: key })
}

/**
 * Counts `request` against `limiter`; over budget, sets `Retry-After` (whole seconds, at least 1)
 * and throws `refuse()`, the service's rate-limited error.
 */
export async function enforceLimit (limiter: Limiter, request: FastifyRequest, reply: FastifyReply, refuse: () => Error): Promise<void> {
  const r = await limiter(request)
  if (!r.isAllowed && r.isExceeded === true) {
    reply.header('retry-after', String(Math.max(1, r.ttlInSeconds ?? 1)))
    throw refuse()
  }
}
