import { Type } from '@sinclair/typebox'
import { MAX_ENVELOPE_BYTES, MAX_META_ENTRIES, MAX_META_KEY_LENGTH, MAX_TTL_MS, MAX_TYPE_LENGTH, MAX_VALUE_BYTES } from '../../../../protocols/anomaly-gossip/constants.ts'
import { AnomalyGossipError, AnomalyRefusedError, EnvelopeError } from '../../../../protocols/anomaly-gossip/errors.ts'
import { NodeApiError } from '../errors.ts'
import type { AnomalyPayload } from '../../../../protocols/anomaly-gossip/codec.ts'
import type { MeshGossip } from '../../../node/gossip-services.ts'
import type { AnomalyRecord } from '../../../store/anomaly-store.ts'
import type { Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) })

/**
 * `POST /v1/mesh/gossip` (seed §7.4), first form: the node signs and gossips an anomaly signature
 * as itself; the caller (the node's own agent, or an operator) sends the payload. The schema
 * mirrors the envelope codec's limits; the codec checks them again.
 */
export const GossipPublishBody = Type.Object({
  type: Type.String({ minLength: 1, maxLength: MAX_TYPE_LENGTH }),
  value: Type.String({ minLength: 1, maxLength: MAX_VALUE_BYTES }),
  // Values are left to the envelope codec (text, safe integer or boolean): fastify's validator
  // coerces types, and a union here would turn 7 into "7" or "7" into 7.
  meta: Type.Optional(Type.Record(Type.String({ maxLength: MAX_META_KEY_LENGTH }), Type.Unknown(), { maxProperties: MAX_META_ENTRIES })),
  /** Lifetime in seconds. @default the node's (1 h) */
  ttl_sec: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TTL_MS / 1000 }))
}, { additionalProperties: false })

export type GossipPublishRequest = Static<typeof GossipPublishBody>

/**
 * Second form: a complete envelope another member signed (`dadm-mesh gossip sign`; a fusion
 * service, an agent holding its own certificate), base64. The node checks it exactly as a
 * received message and gossips the very bytes; a refusal answers with the validator's code.
 */
export const GossipSubmitBody = Type.Object({
  envelope: Type.String({ minLength: 4, maxLength: Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4, pattern: '^[A-Za-z0-9+/]+={0,2}$' })
}, { additionalProperties: false })

export type GossipSubmitRequest = Static<typeof GossipSubmitBody>

/**
 * The POST body as validated: one object with both forms' fields, the form told apart in the
 * handler. Not a schema union: with ajv's removeAdditional (fastify's default here) a failing
 * union branch strips the other form's fields before the next branch sees them.
 */
const GossipPostBody = Type.Object({
  ...GossipPublishBody.properties,
  type: Type.Optional(GossipPublishBody.properties.type),
  value: Type.Optional(GossipPublishBody.properties.value),
  ...GossipSubmitBody.properties,
  envelope: Type.Optional(GossipSubmitBody.properties.envelope)
}, { additionalProperties: false })

/** `GET /v1/mesh/gossip/:message_id/verify`: a stored message's origin proof, checked again now. */
export const GossipVerification = Type.Object({
  message_id: Type.String(),
  /** True when the origin's signature, delegation and chain still hold (chain at the message's timestamp, revocation as of now). */
  valid: Type.Boolean(),
  /** The refusal code when not valid (the gossip validator's codes). */
  code: Type.Optional(Type.String()),
  origin: Type.String(),
  origin_peer_id: Type.Optional(Type.String()),
  timestamp: Type.String({ format: 'date-time' }),
  expiry: Type.String({ format: 'date-time' }),
  /** The message's own expiry has passed (information only). */
  expired: Type.Boolean(),
  checked_at: Type.String({ format: 'date-time' })
})

export type GossipVerificationBody = Static<typeof GossipVerification>

/** The 202 answer: the message is stored here and queued for propagation. */
export const GossipPublished = Type.Object({
  message_id: Type.String(),
  origin: Type.String(),
  timestamp: Type.String({ format: 'date-time' }),
  expiry: Type.String({ format: 'date-time' }),
  /** Peers gossipsub sent it to directly (0 when alone: it stays stored all the same). */
  recipients: Type.Integer()
})

/** One row of `GET /v1/mesh/gossip`: an anomaly signature held in the store. */
export const GossipRow = Type.Object({
  message_id: Type.String(),
  origin: Type.String(),
  origin_peer_id: Type.String(),
  timestamp: Type.String({ format: 'date-time' }),
  expiry: Type.String({ format: 'date-time' }),
  payload: Type.Object({
    type: Type.String(),
    value: Type.String(),
    meta: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])))
  }),
  received_at: Type.String({ format: 'date-time' }),
  source: Type.Union([Type.Literal('local'), Type.Literal('gossip'), Type.Literal('submitted')]),
  relay: Type.Optional(Type.String())
})

export type GossipRowBody = Static<typeof GossipRow>

/**
 * `GET /v1/mesh/gossip/equivocations`: origins that signed two versions of one message_id, as the
 * node's anomaly gossip counted them, and the recent reports (both bounded by the service).
 */
export const EquivocationsBody = Type.Object({
  /** Conflicting versions refused in all, reported or not. */
  conflicts: Type.Integer(),
  origins: Type.Array(Type.Object({
    node_id: Type.String(),
    peer_id: Type.String(),
    conflicts: Type.Integer(),
    /** Conflicts beyond the per-origin report limit: counted, not reported. */
    suppressed: Type.Integer(),
    first_at: Type.String({ format: 'date-time' }),
    last_at: Type.String({ format: 'date-time' })
  })),
  recent: Type.Array(Type.Object({
    node_id: Type.String(),
    peer_id: Type.String(),
    message_id: Type.String(),
    held_digest: Type.String(),
    conflicting_digest: Type.String(),
    relay: Type.String(),
    at: Type.String({ format: 'date-time' })
  }))
})

export type EquivocationsResponse = Static<typeof EquivocationsBody>

const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  origin: Type.Optional(Type.String({ maxLength: 64 })),
  type: Type.Optional(Type.String({ maxLength: MAX_TYPE_LENGTH }))
}, { additionalProperties: false })

/** What the routes need of the running node. */
export interface GossipApiSource {
  publish(req: GossipPublishRequest): Promise<Static<typeof GossipPublished>>
  /** Checks and forwards a pre-signed envelope. Throws AnomalyRefusedError with the validator's code. */
  submit?(envelope: Uint8Array): Promise<Static<typeof GossipPublished>>
  /** A stored message checked again; undefined when not held. Throws NodeApiError NO_ENVELOPE. */
  verify?(messageId: string): Promise<GossipVerificationBody | undefined>
  list(query: { limit?: number, origin?: string, type?: string }): Promise<GossipRowBody[]>
  /** Equivocating origins and recent reports. @default the route answers GOSSIP_DISABLED */
  equivocations?(): EquivocationsResponse
}

/** The routes; without a source (gossip off) both answer GOSSIP_DISABLED. */
export function gossipRoutes (app: FastifyInstance, source: GossipApiSource | undefined): void {
  app.post('/v1/mesh/gossip', {
    schema: {
      summary: 'Sign and gossip an anomaly signature as this node, or forward an envelope another member signed',
      body: GossipPostBody,
      response: { 202: GossipPublished, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 422: ErrorBody }
    }
  }, async (request, reply) => {
    if (source == null) { throw new NodeApiError('GOSSIP_DISABLED') }
    const body = request.body as Partial<GossipPublishRequest & GossipSubmitRequest>
    // One form or the other: an envelope alone, or a payload to sign.
    const { envelope, ...payload } = body
    if (envelope != null ? Object.keys(payload).length > 0 : (payload.type == null || payload.value == null)) { throw new NodeApiError('INVALID_REQUEST') }
    let published
    try {
      if (envelope != null) {
        if (source.submit == null) { throw new NodeApiError('GOSSIP_DISABLED') }
        published = await source.submit(Buffer.from(envelope, 'base64'))
      } else {
        published = await source.publish(payload as GossipPublishRequest)
      }
    } catch (err) {
      // A pre-signed envelope refused as a received one would be: the validator's own code.
      if (err instanceof AnomalyRefusedError) { throw new NodeApiError(err.code, { cause: err }) }
      // A payload the envelope codec refuses (control characters, a non-canonical meta, ...).
      if (err instanceof EnvelopeError || (err instanceof AnomalyGossipError && err.code === 'INVALID_TTL')) { throw new NodeApiError('INVALID_REQUEST', { cause: err }) }
      throw err
    }
    reply.header('cache-control', 'no-store')
    return reply.code(202).send(published)
  })
  app.get('/v1/mesh/gossip', {
    schema: { summary: 'Anomaly signatures held by this node, latest expiry first', querystring: ListQuery, response: { 200: Type.Array(GossipRow), 401: ErrorBody, 409: ErrorBody } }
  }, async (request, reply) => {
    if (source == null) { throw new NodeApiError('GOSSIP_DISABLED') }
    reply.header('cache-control', 'no-store')
    return source.list(request.query as Static<typeof ListQuery>)
  })
  app.get('/v1/mesh/gossip/:message_id/verify', {
    schema: {
      summary: 'Check a stored anomaly signature\'s origin proof again, against the current trust and revocation',
      params: Type.Object({ message_id: Type.String({ minLength: 1, maxLength: 128 }) }),
      response: { 200: GossipVerification, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody }
    }
  }, async (request, reply) => {
    if (source?.verify == null) { throw new NodeApiError('GOSSIP_DISABLED') }
    const result = await source.verify((request.params as { message_id: string }).message_id)
    if (result == null) { throw new NodeApiError('MESSAGE_NOT_FOUND') }
    reply.header('cache-control', 'no-store')
    return result
  })
  app.get('/v1/mesh/gossip/equivocations', {
    schema: { summary: 'Origins that signed two versions of one anomaly message_id (the first version is kept)', response: { 200: EquivocationsBody, 401: ErrorBody, 409: ErrorBody } }
  }, async (request, reply) => {
    if (source?.equivocations == null) { throw new NodeApiError('GOSSIP_DISABLED') }
    reply.header('cache-control', 'no-store')
    return source.equivocations()
  })
}

/** What the publish route needs back from a publisher (a sent or a held signature). */
export interface PublishedRow { messageId: string, origin: string, timestamp: number, expiry: number, recipients: number }

/** Signs and sends (or holds) an anomaly signature as this node; `ttl` in seconds. */
export type AnomalyPublisher = (payload: AnomalyPayload, options: { ttl?: number }) => Promise<PublishedRow>

/**
 * The route source over a node's gossip; `now` leaves expired signatures out of lists.
 * `publish` defaults to publishing through `gossip` (a node runtime puts its CertHold in front).
 */
export function gossipApiSource (gossip: MeshGossip, now: () => number, publish?: AnomalyPublisher): GossipApiSource {
  const send: AnomalyPublisher = publish ?? (async (payload, options) => {
    const p = await gossip.publishAnomaly(payload, options)
    return { messageId: p.messageId, origin: p.record.origin, timestamp: p.record.timestamp, expiry: p.record.expiry, recipients: p.recipients }
  })
  return {
    async publish (req) {
      const payload = { type: req.type, value: req.value, ...(req.meta != null ? { meta: req.meta as Record<string, string | number | boolean> } : {}) }
      const r = await send(payload, req.ttl_sec != null ? { ttl: req.ttl_sec } : {})
      return { message_id: r.messageId, origin: r.origin, timestamp: iso(r.timestamp), expiry: iso(r.expiry), recipients: r.recipients }
    },
    async submit (envelope) {
      const p = await gossip.anomaly.submit(envelope)
      return { message_id: p.messageId, origin: p.record.origin, timestamp: iso(p.record.timestamp), expiry: iso(p.record.expiry), recipients: p.recipients }
    },
    async verify (messageId) {
      const r = await gossip.anomalies.get(messageId)
      if (r == null) { return undefined }
      if (r.envelope == null) { throw new NodeApiError('NO_ENVELOPE') }
      const v = gossip.anomaly.reverify(Buffer.from(r.envelope, 'base64'))
      return {
        message_id: r.message_id,
        valid: v.valid,
        ...(v.code != null ? { code: v.code } : {}),
        origin: r.origin,
        ...(v.origin != null ? { origin_peer_id: v.origin.peerId } : {}),
        timestamp: iso(r.timestamp),
        expiry: iso(r.expiry),
        expired: v.expired,
        checked_at: iso(now())
      }
    },
    async list (q) {
      const records = await gossip.anomalies.list({ now: now(), limit: q.limit ?? 100, ...(q.origin != null ? { origin: q.origin } : {}), ...(q.type != null ? { type: q.type } : {}) })
      return records.map(toRow)
    },
    equivocations () {
      const e = gossip.anomaly.equivocations
      return {
        conflicts: e.conflicts,
        origins: e.origins().map(o => ({ node_id: o.nodeId, peer_id: o.peerId, conflicts: o.conflicts, suppressed: o.suppressed, first_at: iso(o.firstAt), last_at: iso(o.lastAt) })),
        recent: e.recent().map(r => ({ node_id: r.nodeId, peer_id: r.peerId, message_id: r.messageId, held_digest: r.heldDigest, conflicting_digest: r.conflictingDigest, relay: r.relay, at: iso(r.at) }))
      }
    }
  }
}

/** The API row of a stored signature. */
export function toRow (r: AnomalyRecord): GossipRowBody {
  return {
    message_id: r.message_id,
    origin: r.origin,
    origin_peer_id: r.origin_peer_id,
    timestamp: iso(r.timestamp),
    expiry: iso(r.expiry),
    payload: { type: r.payload.type, value: r.payload.value, ...(r.payload.meta != null ? { meta: r.payload.meta } : {}) },
    received_at: iso(r.received_at),
    source: r.source,
    ...(r.relay != null ? { relay: r.relay } : {})
  }
}

function iso (ms: number): string {
  return new Date(ms).toISOString()
}
