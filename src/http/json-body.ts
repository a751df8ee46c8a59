import type { FastifyInstance, FastifyRequest } from 'fastify'

/** Why a JSON body was refused; a service's catalogue answers each with its own code. */
export type JsonRefusal = 'INVALID_JSON' | 'FORBIDDEN_JSON_KEY'

/**
 * Keys refused anywhere in a JSON body. `__proto__` and `constructor.prototype` are the
 * prototype-poisoning vectors; none of our schemas uses these names, so refusing them outright
 * is simpler than deciding which nesting is dangerous.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * Parses JSON text, throwing `refuse('FORBIDDEN_JSON_KEY')` for a forbidden key and
 * `refuse('INVALID_JSON')` for anything else that is not JSON we take (empty text, a syntax
 * error, or a RangeError from absurd nesting).
 */
export function parseJsonBody (text: string, refuse: (why: JsonRefusal) => Error): unknown {
  if (text.length === 0) { throw refuse('INVALID_JSON') }
  let forbidden = false
  try {
    return JSON.parse(text, (key, value) => {
      if (FORBIDDEN_KEYS.has(key)) {
        forbidden = true
        throw new Error('forbidden key')
      }
      return value
    })
  } catch {
    throw refuse(forbidden ? 'FORBIDDEN_JSON_KEY' : 'INVALID_JSON')
  }
}

/**
 * Takes only JSON bodies, parsed by `parseJsonBody`: a text/plain body would otherwise reach the
 * schema as a string. Fastify's own parser (secure-json-parse) refuses the same keys but folds the
 * reason into a generic "invalid JSON" error; ours keeps the distinct code. The body limit still
 * applies first.
 */
export function installJsonParser (app: FastifyInstance, refuse: (why: JsonRefusal) => Error): void {
  app.removeContentTypeParser('text/plain')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      done(null, parseJsonBody(typeof body === 'string' ? body : body.toString('utf8'), refuse))
    } catch (err) {
      done(err as Error)
    }
  })
}
