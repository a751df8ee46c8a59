import { Type } from '@sinclair/typebox'
import { parseBundleId } from '../../../dtn/bundle-id.ts'
import { MAX_TTL_SEC, MIN_TTL_SEC } from '../../../dtn/constants.ts'
import { BundleError } from '../../../dtn/errors.ts'
import { BundleStoreError } from '../../../dtn/store/bundle-records.ts'
import { NodeApiError } from '../errors.ts'
import type { BundleListing, InboxRow } from '../../runtime/dtn-listing.ts'
import type { NodeBundles } from '../../runtime/dtn.ts'
import type { Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'

/**
 * `POST /v1/bundles` and `GET /v1/bundles` (seed §7.5): send a bundle as this node, and
 * list the bundles destined for it and those it holds for forwarding; `GET /v1/bundles/{id}`
 * returns one delivered bundle with its payload. The POST answers only after the bundle is on
 * disk (a sync write): a `bundle_id` in hand is a bundle that survives a crash.
 */

/**
 * Largest payload through the API: 16 MiB, base64 in JSON (about 22 MiB of body). Larger ADUs
 * (up to MAX_ADU_BYTES) go through the library API, which takes bytes, not JSON text.
 */
export const MAX_API_PAYLOAD_BYTES = 16 * 1024 * 1024
/** The POST body limit: the base64 of the largest payload plus the other fields. */
export const BUNDLE_BODY_LIMIT = Math.ceil(MAX_API_PAYLOAD_BYTES / 3) * 4 + 1024

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) })

export const BundleSendBody = Type.Object({
  /** A node_id, or `broadcast`. */
  destination: Type.String({ minLength: 1, maxLength: 64 }),
  ttl_sec: Type.Integer({ minimum: MIN_TTL_SEC, maximum: MAX_TTL_SEC }),
  /** Standard base64 with padding. */
  payload: Type.String({ maxLength: BUNDLE_BODY_LIMIT })
}, { additionalProperties: false })

export type BundleSendRequest = Static<typeof BundleSendBody>

const SEND_FIELDS = new Set(['destination', 'ttl_sec', 'payload'])

export const BundleSent = Type.Object({
  bundle_id: Type.String(),
  expires_at: Type.String({ format: 'date-time' })
})

const InboxRowSchema = Type.Object({
  bundle_id: Type.String(),
  source: Type.String(),
  destination: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.String({ format: 'date-time' }),
  delivered_at: Type.String({ format: 'date-time' }),
  size: Type.Integer(),
  sha256: Type.String(),
  received_from: Type.Optional(Type.String())
})

const HeldRowSchema = Type.Object({
  bundle_id: Type.String(),
  source: Type.String(),
  destination: Type.String(),
  offset: Type.Integer(),
  length: Type.Integer(),
  total_length: Type.Integer(),
  expires_at: Type.String({ format: 'date-time' }),
  next_attempt_at: Type.String({ format: 'date-time' }),
  attempts: Type.Integer(),
  copies: Type.Integer(),
  hop_count: Type.Integer(),
  sent_to: Type.Array(Type.String()),
  received_from: Type.Optional(Type.String())
})

const ReassemblyRowSchema = Type.Object({
  bundle_id: Type.String(),
  source: Type.String(),
  fragments: Type.Integer(),
  bytes_held: Type.Integer(),
  total_length: Type.Integer(),
  expires_at: Type.String({ format: 'date-time' })
})

export const BundleList = Type.Object({
  inbox: Type.Array(InboxRowSchema),
  held: Type.Array(HeldRowSchema),
  reassembling: Type.Array(ReassemblyRowSchema)
})

const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 256 }))
}, { additionalProperties: false })

const OneParams = Type.Object({ bundle_id: Type.String({ maxLength: 100 }) }, { additionalProperties: false })

const OneBundle = Type.Composite([InboxRowSchema, Type.Object({ payload: Type.String() })])

/** What the routes need of the running node. */
export interface BundleApiSource {
  send(req: { destination: string, ttlSec: number, payload: Uint8Array }): Promise<{ bundleId: string, expiresAt: number }>
  list(limit: number): Promise<BundleListing>
  get(bundleId: string): Promise<{ row: InboxRow, payload: Uint8Array } | undefined>
}

/** The base64 alphabet with at most two `=` at the end: one class, no groups (linear on 22 MB). */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Strict standard base64 (padding required, no whitespace, no URL alphabet), or INVALID_REQUEST. */
export function decodeBase64Strict (s: string): Uint8Array {
  if (s.length % 4 !== 0 || !BASE64.test(s)) { throw new NodeApiError('INVALID_REQUEST') }
  const bytes = Buffer.from(s, 'base64')
  const padding = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0
  if (bytes.length !== s.length / 4 * 3 - padding) { throw new NodeApiError('INVALID_REQUEST') }
  if (bytes.length > MAX_API_PAYLOAD_BYTES) { throw new NodeApiError('BODY_TOO_LARGE') }
  return bytes
}

/** The routes; without a source (no DTN) they answer BUNDLES_DISABLED. */
export function bundleRoutes (app: FastifyInstance, source: BundleApiSource | undefined): void {
  app.post('/v1/bundles', {
    bodyLimit: BUNDLE_BODY_LIMIT,
    // fastify's validator drops unknown fields silently; a field we do not know is a client bug
    preValidation: async (request) => {
      const body = request.body
      if (body != null && typeof body === 'object' && Object.keys(body).some(k => !SEND_FIELDS.has(k))) { throw new NodeApiError('INVALID_REQUEST') }
    },
    schema: { summary: 'Send a bundle as this node; answers once it is on disk', body: BundleSendBody, response: { 201: BundleSent, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 507: ErrorBody } }
  }, async (request, reply) => {
    if (source == null) { throw new NodeApiError('BUNDLES_DISABLED') }
    const body = request.body as BundleSendRequest
    const payload = decodeBase64Strict(body.payload)
    let sent
    try {
      sent = await source.send({ destination: body.destination, ttlSec: body.ttl_sec, payload })
    } catch (err) {
      // a destination that is not a node_id, a TTL beyond the certificate's life, ...
      if (err instanceof BundleError) { throw new NodeApiError('INVALID_REQUEST', { cause: err }) }
      if (err instanceof BundleStoreError && err.code === 'QUOTA_EXCEEDED') { throw new NodeApiError('STORE_FULL', { cause: err }) }
      throw err
    }
    reply.header('cache-control', 'no-store')
    return reply.code(201).send({ bundle_id: sent.bundleId, expires_at: new Date(sent.expiresAt).toISOString() })
  })
  app.get('/v1/bundles', {
    schema: { summary: 'Bundles delivered to this node, held for forwarding, and being reassembled', querystring: ListQuery, response: { 200: BundleList, 401: ErrorBody, 409: ErrorBody } }
  }, async (request, reply) => {
    if (source == null) { throw new NodeApiError('BUNDLES_DISABLED') }
    reply.header('cache-control', 'no-store')
    return source.list((request.query as Static<typeof ListQuery>).limit ?? 256)
  })
  app.get('/v1/bundles/:bundle_id', {
    schema: { summary: 'One bundle delivered to this node, with its payload (base64)', params: OneParams, response: { 200: OneBundle, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody } }
  }, async (request, reply) => {
    if (source == null) { throw new NodeApiError('BUNDLES_DISABLED') }
    const found = await source.get((request.params as Static<typeof OneParams>).bundle_id)
    if (found == null) { throw new NodeApiError('NOT_FOUND') }
    reply.header('cache-control', 'no-store')
    return { ...found.row, payload: Buffer.from(found.payload).toString('base64') }
  })
}

/** The route source over a node's bundles. */
export function bundleApiSource (bundles: NodeBundles): BundleApiSource {
  return {
    async send (req) {
      const sent = await bundles.send(req)
      return { bundleId: sent.bundleId, expiresAt: sent.expiresAt }
    },
    async list (limit) {
      return bundles.list({ limit })
    },
    async get (bundleId) {
      let id
      try {
        id = parseBundleId(bundleId)
      } catch {
        return undefined
      }
      return bundles.get(id)
    }
  }
}
