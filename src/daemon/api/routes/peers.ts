import { Type } from '@sinclair/typebox'
import type { PeerTableRow } from '../../../node/peer-table.ts'
import type { FastifyInstance } from 'fastify'

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) })

/** One row of `GET /v1/mesh/peers`. */
export const PeerRow = Type.Object({
  node_id: Type.String(),
  peer_id: Type.String(),
  status: Type.Union([Type.Literal('connected'), Type.Literal('authenticated'), Type.Literal('disconnected')]),
  // 'relay': a circuit relay v2 session through a member relay (its remote address has /p2p-circuit).
  transport: Type.Union([Type.Literal('quic'), Type.Literal('tcp'), Type.Literal('relay'), Type.Literal('other')]),
  last_seen: Type.String({ format: 'date-time' }),
  cert_serial: Type.String(),
  cert_not_after: Type.String({ format: 'date-time' }),
  // The roles in the peer's authenticated certificate (empty when none).
  roles: Type.Array(Type.String()),
  // Present only when the node runs attestation; serialised when the peer table carries them.
  attested: Type.Optional(Type.Union([Type.Boolean(), Type.Literal('unknown')])),
  attested_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()]))
})

/**
 * `GET /v1/mesh/peers`: the mesh peer table, peers that authenticated at least once, with their
 * link status now. Unauthenticated peers are never in it.
 */
export function peersRoute (app: FastifyInstance, peers: () => PeerTableRow[]): void {
  app.get('/v1/mesh/peers', {
    schema: {
      summary: 'The mesh peer table',
      response: { 200: Type.Array(PeerRow), 401: ErrorBody }
    }
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return peers()
  })
}
