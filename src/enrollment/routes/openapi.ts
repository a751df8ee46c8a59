import type { FastifyInstance } from 'fastify'

/** `GET /v1/openapi.json`: the OpenAPI 3 document @fastify/swagger builds from the route schemas. */
export function openapiRoute (app: FastifyInstance): void {
  app.get('/v1/openapi.json', { schema: { hide: true } }, async (_request, reply) => {
    const doc = (app as unknown as { swagger(): unknown }).swagger()
    return reply.type('application/json; charset=utf-8').send(doc)
  })
}
