import { createHash, timingSafeEqual } from 'node:crypto'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import Fastify from 'fastify'
import { MeshError } from '../errors.ts'
import { installErrorHandlers } from '../http/error-handler.ts'
import { installJsonParser } from '../http/json-body.ts'
import { clearStaleSocket, listenPrivateSocket, MAX_SOCKET_PATH } from '../http/unix-socket.ts'
import { REVOCATION_REASONS } from '../pki/revocation-reasons.ts'
import { MAX_ROLES, ROLE_PATTERN } from '../pki/roles-extension.ts'
import { ENROLLMENT_HTTP_ERRORS } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import { NODE_ID_PATTERN, SERIAL_PATTERN, MAX_CSR_CHARS } from './schemas.ts'
import type { CaAdminOps, NoticeDelivery } from './types.ts'
import type { RevocationReason } from '../pki/revocation-reasons.ts'
import type { FastifyInstance } from 'fastify'

/**
 * The admin socket: a Unix socket `DIR/admin.sock` (mode 0600) on which a running `ca serve`
 * answers the operator commands (`ca token`, `ca revoke`, `ca crl`, `ca admin-cert`). LevelDB
 * admits one process, so while the service holds the store these commands cannot open it; they
 * ask the service instead. Access control is the file system: the socket is created 0600 (bound
 * under a 0177 umask, then chmod), so only the CA's own user (and root) can connect. HTTP/1.1
 * with JSON bodies over the socket keeps one error catalogue and one schema validator.
 */

export const ADMIN_SOCKET_NAME = 'admin.sock'
export { MAX_SOCKET_PATH, socketAnswers } from '../http/unix-socket.ts'

export type AdminSocketErrorCode = 'SOCKET_PATH_TOO_LONG' | 'SOCKET_IN_USE' | 'NOT_A_SOCKET'

/** Raised when the admin socket cannot be created. */
export class AdminSocketError extends MeshError<AdminSocketErrorCode> {
  static name = 'AdminSocketError'
}

/** Where the admin socket of the CA in `dir` lives. */
export function adminSocketPath (dir: string): string {
  return join(dir, ADMIN_SOCKET_NAME)
}

const TokenBody = Type.Object({
  node_id: Type.Optional(Type.String({ pattern: NODE_ID_PATTERN, maxLength: 64 })),
  ttl_ms: Type.Integer({ minimum: 1 }),
  uses: Type.Integer({ minimum: 1 }),
  replace: Type.Optional(Type.Boolean()),
  roles: Type.Optional(Type.Array(Type.String({ pattern: ROLE_PATTERN, maxLength: 32 }), { maxItems: MAX_ROLES }))
}, { additionalProperties: false })

const RevokeBody = Type.Object({
  serial: Type.Optional(Type.String({ pattern: SERIAL_PATTERN, maxLength: 40 })),
  node_id: Type.Optional(Type.String({ pattern: NODE_ID_PATTERN, maxLength: 64 })),
  reason: Type.Optional(Type.Union(Object.keys(REVOCATION_REASONS).map(r => Type.Literal(r)))),
  block_unknown: Type.Optional(Type.Boolean())
}, { additionalProperties: false })

const AdminCertBody = Type.Object({
  csr: Type.String({ minLength: 1, maxLength: MAX_CSR_CHARS }),
  name: Type.String({ pattern: NODE_ID_PATTERN, maxLength: 64 }),
  validity_seconds: Type.Optional(Type.Integer({ minimum: 1 }))
}, { additionalProperties: false })

const NodeBody = Type.Object({ node_id: Type.String({ pattern: NODE_ID_PATTERN, maxLength: 64 }) }, { additionalProperties: false })

const IssueBody = Type.Object({
  csr: Type.String({ minLength: 1, maxLength: MAX_CSR_CHARS }),
  profile: Type.Union([Type.Literal('node'), Type.Literal('admin'), Type.Literal('server')]),
  validity_seconds: Type.Optional(Type.Integer({ minimum: 1 })),
  node_id: Type.Optional(Type.String({ pattern: NODE_ID_PATTERN, maxLength: 64 })),
  dns: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 64 })),
  ip: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 45 }), { maxItems: 64 }))
}, { additionalProperties: false })

const RotateNowBody = Type.Object({
  node_ids: Type.Optional(Type.Array(Type.String({ pattern: NODE_ID_PATTERN, maxLength: 64 }), { minItems: 1, maxItems: 256 })),
  ttl_ms: Type.Optional(Type.Integer({ minimum: 1 }))
}, { additionalProperties: false })

const TrustBundleBody = Type.Object({
  roots_pem: Type.String({ minLength: 1, maxLength: 65_536 }),
  cas_pem: Type.Optional(Type.String({ maxLength: 65_536 })),
  ttl_ms: Type.Optional(Type.Integer({ minimum: 1 }))
}, { additionalProperties: false })

/** The backup directory, absolute: the service's working directory is not the operator's. */
const BackupBody = Type.Object({ out: Type.String({ pattern: '^/', minLength: 2, maxLength: 4096 }) }, { additionalProperties: false })

/** Compares two secrets in constant time (over their hashes, so lengths leak nothing either). */
function sameSecret (a: string, b: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()
  return timingSafeEqual(h(a), h(b))
}

/** Builds the admin API (not yet listening). */
export async function createAdminApp (ops: CaAdminOps, now: () => Date, passphrase?: string, status?: () => Promise<Record<string, unknown>>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, requestIdHeader: false, forceCloseConnections: true, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } }) as unknown as FastifyInstance
  installJsonParser(app, why => new EnrollmentError(why))
  installErrorHandlers(app, ENROLLMENT_HTTP_ERRORS)
  // What became of a notice, for the operator's command: pushed by the CA's node, or left for the poll.
  const deliver = async (notice: Uint8Array): Promise<NoticeDelivery> => ops.deliverNotice != null ? ops.deliverNotice(notice) : { via: 'poll' }
  // `ca status` reads what the running service adds here (its URL, names, mesh node, CRL).
  app.get('/v1/admin/status', async () => ({ ok: true, pid: process.pid, ...(status != null ? await status() : {}) }))
  // An operator command given a passphrase checks it here first: the service opened the CA with
  // its own, and a wrong one given to a command must be refused, not silently ignored.
  app.post('/v1/admin/check-passphrase', { schema: { body: Type.Object({ passphrase: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }) } }, async (request) => {
    const given = (request.body as { passphrase: string }).passphrase
    return { match: passphrase == null ? null : sameSecret(given, passphrase) }
  })
  app.post('/v1/admin/token', { schema: { body: TokenBody } }, async (request) => {
    const b = request.body as { node_id?: string, ttl_ms: number, uses: number, replace?: boolean, roles?: string[] }
    const t = await ops.createToken({ ttlMs: b.ttl_ms, uses: b.uses, ...(b.node_id != null ? { nodeId: b.node_id } : {}), ...(b.replace === true ? { replace: true } : {}), ...(b.roles != null ? { roles: b.roles } : {}) }, now())
    return { token: t.token, token_id: t.tokenId, node_id: t.nodeId ?? null, expires_at: t.expiresAt, uses: t.uses, replace: t.replace === true, roles: t.roles }
  })
  app.post('/v1/admin/revoke', { schema: { body: RevokeBody } }, async (request) => {
    const b = request.body as { serial?: string, node_id?: string, reason?: string, block_unknown?: boolean }
    const r = await ops.revoke({
      ...(b.serial != null ? { serialHex: b.serial.toLowerCase() } : {}),
      ...(b.node_id != null ? { nodeId: b.node_id } : {}),
      ...(b.reason != null ? { reason: b.reason as RevocationReason } : {}),
      ...(b.block_unknown === true ? { blockUnknown: true } : {}),
      by: 'local-admin-socket'
    }, now())
    return { serials: r.serials }
  })
  app.get('/v1/admin/crl', { schema: { querystring: Type.Object({ scope: Type.Optional(Type.Union([Type.Literal('issuing'), Type.Literal('root')])) }, { additionalProperties: false }) } }, async (request) => {
    const q = request.query as { scope?: 'issuing' | 'root' }
    return { pem: await ops.crlPem(now(), q.scope ?? 'issuing') }
  })
  app.post('/v1/admin/issue', { schema: { body: IssueBody } }, async (request) => {
    const b = request.body as { csr: string, profile: 'node' | 'admin' | 'server', validity_seconds?: number, node_id?: string, dns?: string[], ip?: string[] }
    if (ops.issueForOperator == null) { throw new EnrollmentError('NOT_FOUND') }
    const r = await ops.issueForOperator({
      csrPem: b.csr,
      profile: b.profile,
      ...(b.validity_seconds != null ? { validitySeconds: b.validity_seconds } : {}),
      ...(b.node_id != null ? { nodeId: b.node_id } : {}),
      ...(b.dns != null ? { dnsNames: b.dns } : {}),
      ...(b.ip != null ? { ipAddresses: b.ip } : {})
    }, now())
    return { pem: r.pem, serial: r.serialHex, subject: r.subject, not_after: r.notAfter }
  })
  app.post('/v1/admin/admin-cert', { schema: { body: AdminCertBody } }, async (request) => {
    const b = request.body as { csr: string, name: string, validity_seconds?: number }
    const r = await ops.issueAdminCert({ csrPem: b.csr, name: b.name, ...(b.validity_seconds != null ? { validitySeconds: b.validity_seconds } : {}) }, now())
    return { certificate: r.certificatePem, chain: r.chainPem, ca_cert: r.caCertPem, serial: r.serialHex, not_after: r.notAfter }
  })
  app.post('/v1/admin/rotate-now', { schema: { body: RotateNowBody } }, async (request) => {
    const b = request.body as { node_ids?: string[], ttl_ms?: number }
    if (ops.rotateNow == null) { throw new EnrollmentError('NOT_FOUND') }
    const notice = await ops.rotateNow({ ...(b.node_ids != null ? { targets: b.node_ids } : {}), ...(b.ttl_ms != null ? { ttlMs: b.ttl_ms } : {}) }, now())
    return { notice: Buffer.from(notice).toString('base64'), delivery: await deliver(notice) }
  })
  app.post('/v1/admin/trust-bundle', { schema: { body: TrustBundleBody } }, async (request) => {
    const b = request.body as { roots_pem: string, cas_pem?: string, ttl_ms?: number }
    if (ops.trustBundle == null) { throw new EnrollmentError('NOT_FOUND') }
    const notice = await ops.trustBundle({ rootsPem: b.roots_pem, ...(b.cas_pem != null ? { casPem: b.cas_pem } : {}), ...(b.ttl_ms != null ? { ttlMs: b.ttl_ms } : {}) }, now())
    return { notice: Buffer.from(notice).toString('base64'), delivery: await deliver(notice) }
  })
  app.post('/v1/admin/clear-revocation', { schema: { body: NodeBody } }, async (request) => {
    const b = request.body as { node_id: string }
    return { cleared: await ops.clearNodeRevocation(b.node_id, now()) }
  })
  // `ca unblock`: like clear-revocation, but a node_id that is not blocked is an error (404 NODE_NOT_BLOCKED).
  app.post('/v1/admin/unblock', { schema: { body: NodeBody } }, async (request) => {
    const b = request.body as { node_id: string }
    await ops.unblockNode({ nodeId: b.node_id, by: 'local-admin-socket' }, now())
    return { unblocked: b.node_id }
  })
  // Inventory and backup (`ca list-certs`, `ca list-nodes`, `ca backup`) while the service holds the store.
  app.get('/v1/admin/certs', { schema: { querystring: Type.Object({ node_id: Type.Optional(Type.String({ pattern: NODE_ID_PATTERN, maxLength: 64 })) }, { additionalProperties: false }) } }, async (request) => {
    if (ops.listCerts == null) { throw new EnrollmentError('NOT_FOUND') }
    const q = request.query as { node_id?: string }
    return ops.listCerts(q.node_id != null ? { nodeId: q.node_id } : {}, now())
  })
  app.get('/v1/admin/nodes', async () => {
    if (ops.listNodes == null) { throw new EnrollmentError('NOT_FOUND') }
    return ops.listNodes(now())
  })
  app.post('/v1/admin/backup', { schema: { body: BackupBody } }, async (request) => {
    if (ops.backup == null) { throw new EnrollmentError('NOT_FOUND') }
    const r = await ops.backup({ out: (request.body as { out: string }).out }, now())
    return { out: r.out, manifest: r.manifest }
  })
  await app.ready()
  return app
}

/** A listening admin socket. */
export interface AdminSocket {
  readonly path: string
  close(): Promise<void>
}

/**
 * Opens the admin socket in `dir`. A socket file left by a crashed service is removed (nothing
 * answers on it); one that answers means another service runs (SOCKET_IN_USE); a non-socket
 * file of that name is never removed (NOT_A_SOCKET).
 */
export async function startAdminSocket (options: { dir: string, ops: CaAdminOps, now?(): Date, passphrase?: string, status?(): Promise<Record<string, unknown>> }): Promise<AdminSocket> {
  const path = adminSocketPath(options.dir)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new AdminSocketError('SOCKET_PATH_TOO_LONG', `${path} is longer than a Unix socket path may be (${MAX_SOCKET_PATH} bytes); use a shorter CA directory path`)
  }
  const state = await clearStaleSocket(path)
  if (state === 'not-a-socket') { throw new AdminSocketError('NOT_A_SOCKET', `${path} exists and is not a socket; refusing to replace it`) }
  if (state === 'in-use') { throw new AdminSocketError('SOCKET_IN_USE', `another CA service answers on ${path}`) }
  const app = await createAdminApp(options.ops, options.now ?? (() => new Date()), options.passphrase, options.status)
  return listenPrivateSocket(app, path)
}
