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
  started_at: Type.String({ format: 'date-time' }),
  /**
   * Whether members can reach this node directly (src/node/reachability.ts): public (a verified
   * public address), unconfirmed (public candidates no member dialled back yet: behind NAT, or
   * not checked), private (LAN or loopback only); AutoNAT server counts; UPnP on or off.
   */
  reachability: Type.Optional(Type.Object({
    status: Type.Union([Type.Literal('public'), Type.Literal('unconfirmed'), Type.Literal('private')]),
    verified: Type.Array(Type.String()),
    unconfirmed: Type.Array(Type.String()),
    mapped: Type.Array(Type.String()),
    autonat: Type.Object({ enabled: Type.Boolean(), served: Type.Integer(), refused: Type.Record(Type.String(), Type.Integer()) }, { additionalProperties: false }),
    upnp: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false })
  }, { additionalProperties: false })),
  /**
   * Circuit relay among members (src/node/relay-status.ts): whether this node serves it, members
   * holding a slot here, bytes it carried as a relay; the member relays it holds slots on and the
   * relayed addresses it advertises; requests its member-only gate refused. Absent with relaying off.
   */
  relay: Type.Optional(Type.Object({
    serving: Type.Boolean(),
    reservations_granted: Type.Integer(),
    relayed_bytes: Type.Integer(),
    relays: Type.Array(Type.String()),
    relayed_addrs: Type.Array(Type.String()),
    refused: Type.Object({ reservation: Type.Integer(), connect: Type.Integer(), inbound: Type.Integer() }, { additionalProperties: false })
  }, { additionalProperties: false })),
  /** The DHT role in force and why (src/node/dht-mode.ts); absent without a DHT. */
  dht: Type.Optional(Type.Object({
    mode: Type.Union([Type.Literal('server'), Type.Literal('client')]),
    reason: Type.Union([Type.Literal('configured'), Type.Literal('public-address'), Type.Literal('behind-nat'), Type.Literal('private-network')])
  }, { additionalProperties: false })),
  /** Redial and member target (src/node/member-keeper.ts): peers kept, redials waiting, dials made since start. */
  keep_alive: Type.Optional(Type.Object({
    bootstrap: Type.Integer(),
    members: Type.Integer(),
    scheduled: Type.Integer(),
    redials: Type.Integer(),
    refill_dials: Type.Integer()
  }, { additionalProperties: false }))
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
