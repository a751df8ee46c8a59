import { Type } from '@sinclair/typebox'
import type { Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'

/** `GET /v1/node`: who this node is and what it runs with. */
export const NodeInfo = Type.Object({
  node_id: Type.String(),
  peer_id: Type.String(),
  multiaddrs: Type.Array(Type.String()),
  cert_serial: Type.String(),
  cert_not_after: Type.String({ format: 'date-time' }),
  /** The number of the newest CRL installed, decimal, or null before the first. */
  crl_number: Type.Union([Type.String(), Type.Null()]),
  started_at: Type.String({ format: 'date-time' })
}, { additionalProperties: false })

export type NodeInfoBody = Static<typeof NodeInfo>

export function nodeInfoRoute (app: FastifyInstance, info: () => NodeInfoBody): void {
  app.get('/v1/node', {
    schema: { summary: 'This node: identity, addresses, certificate, CRL', response: { 200: NodeInfo } }
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return info()
  })
}
