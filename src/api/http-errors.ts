import { writeRawJsonError } from '../http/raw-error.ts'
import { NodeApiError, nodeApiErrorBody } from './errors.ts'
import type { NodeApiErrorCode } from './errors.ts'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Socket } from 'node:net'

/** Fastify's own error codes that reach us, mapped into the catalogue. */
const FASTIFY_CODES: Record<string, NodeApiErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_REQUEST'
}

/** Translates whatever a request raised into one catalogue code. */
export function classifyApiError (err: unknown): NodeApiErrorCode {
  if (err instanceof NodeApiError) { return err.code }
  const e = err as Partial<FastifyError> & { validation?: unknown }
  if (e.validation != null) { return 'INVALID_REQUEST' }
  if (typeof e.code === 'string' && FASTIFY_CODES[e.code] != null) { return FASTIFY_CODES[e.code] }
  if (e.statusCode === 400) { return 'INVALID_REQUEST' }
  if (e.statusCode === 413) { return 'BODY_TOO_LARGE' }
  if (e.statusCode === 415) { return 'UNSUPPORTED_MEDIA_TYPE' }
  return 'INTERNAL'
}

/** Every failure leaves as a catalogue body; only 500s are logged with their error. */
export function installApiErrorHandlers (app: FastifyInstance): void {
  app.setErrorHandler(async (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const code = classifyApiError(err)
    if (code === 'INTERNAL') { request.log.error({ err }, 'request failed') }
    const cause = (err as { cause?: { name?: unknown, code?: unknown } }).cause
    request.log.debug({ code, cause: typeof cause?.code === 'string' ? `${String(cause.name)}:${cause.code}` : undefined }, 'request refused')
    return sendApiError(reply, code)
  })
  app.setNotFoundHandler(async (_request, reply) => sendApiError(reply, 'NOT_FOUND'))
}

/** Sends the catalogue body for `code` with its status. */
export async function sendApiError (reply: FastifyReply, code: NodeApiErrorCode): Promise<FastifyReply> {
  const err = new NodeApiError(code)
  reply.header('cache-control', 'no-store')
  return reply.code(err.status).type('application/json; charset=utf-8').send(nodeApiErrorBody(code))
}

/** Answers HTTP the parser could not read with a catalogue body too. */
export function apiClientErrorHandler (err: NodeJS.ErrnoException, socket: Socket): void {
  const code: NodeApiErrorCode = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? 'REQUEST_TIMEOUT'
    : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'INVALID_REQUEST'
  writeRawJsonError(socket, err, new NodeApiError(code).status, nodeApiErrorBody(code))
}
