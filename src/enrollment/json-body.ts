import { EnrollmentError } from './errors.ts'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/**
 * Keys refused anywhere in a JSON body. `__proto__` and `constructor.prototype` are the
 * prototype-poisoning vectors; none of our schemas uses these names, so refusing them outright
 * is simpler than deciding which nesting is dangerous.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/** Parses JSON text, refusing forbidden keys with FORBIDDEN_JSON_KEY and bad JSON with INVALID_JSON. */
export function parseJsonBody (text: string): unknown {
  if (text.length === 0) { throw new EnrollmentError('INVALID_JSON') }
  try {
    return JSON.parse(text, (key, value) => {
      if (FORBIDDEN_KEYS.has(key)) { throw new EnrollmentError('FORBIDDEN_JSON_KEY') }
      return value
    })
  } catch (err) {
    if (err instanceof EnrollmentError) { throw err }
    // SyntaxError, or RangeError from absurd nesting: either way not JSON we take.
    throw new EnrollmentError('INVALID_JSON')
  }
}

/**
 * Replaces fastify's JSON parser with ours. Fastify's own (secure-json-parse with
 * `onProtoPoisoning: 'error'`) refuses the same keys but folds the reason into a generic
 * "invalid JSON" error; ours keeps the distinct catalogue code. The body limit still applies first.
 */
export function installJsonParser (app: FastifyInstance): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      done(null, parseJsonBody(typeof body === 'string' ? body : body.toString('utf8')))
    } catch (err) {
      done(err as Error)
    }
  })
}
