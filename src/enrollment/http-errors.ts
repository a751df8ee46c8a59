import { STATUS_CODES } from 'node:http'
import { EnrollmentError, errorBody } from './errors.ts'
import { logFields } from './request-log.ts'
import type { EnrollmentErrorCode } from './errors.ts'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Socket } from 'node:net'

/** Which body field a schema failure concerns decides the 400 code (token, node_id, CSR, other). */
const FIELD_CODES: Record<string, EnrollmentErrorCode> = {
  '/token': 'INVALID_TOKEN_FORMAT',
  '/node_id': 'INVALID_NODE_ID',
  '/csr': 'INVALID_CSR',
  '/serial': 'INVALID_SERIAL',
  '/current_cert_serial': 'INVALID_SERIAL'
}

/** Fastify's own error codes that reach us, mapped into the catalogue. */
const FASTIFY_CODES: Record<string, EnrollmentErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON'
}

/** Translates whatever a request raised into one catalogue code. */
export function classifyError (err: unknown): EnrollmentErrorCode {
  if (err instanceof EnrollmentError) { return err.code }
  const e = err as Partial<FastifyError> & { validation?: Array<{ instancePath?: string, params?: Record<string, unknown> }> }
  if (Array.isArray(e.validation)) {
    for (const v of e.validation) {
      // A missing required field shows up at the parent path with params.missingProperty.
      const missing = typeof v.params?.missingProperty === 'string' ? `/${v.params.missingProperty}` : ''
      const path = v.instancePath !== '' && v.instancePath != null ? v.instancePath : missing
      const code = FIELD_CODES[path]
      if (code != null) { return code }
    }
    return 'INVALID_REQUEST'
  }
  if (typeof e.code === 'string' && FASTIFY_CODES[e.code] != null) { return FASTIFY_CODES[e.code] }
  if (err instanceof SyntaxError) { return 'INVALID_JSON' }
  if (e.statusCode === 400) { return 'INVALID_REQUEST' }
  if (e.statusCode === 413) { return 'BODY_TOO_LARGE' }
  if (e.statusCode === 415) { return 'UNSUPPORTED_MEDIA_TYPE' }
  if (e.statusCode === 503) { return 'UNAVAILABLE' }
  return 'INTERNAL'
}

/** Sends the catalogue body for `code`; the status comes from the catalogue too. */
export async function sendError (reply: FastifyReply, code: EnrollmentErrorCode): Promise<FastifyReply> {
  const err = new EnrollmentError(code)
  return reply.code(err.status).type('application/json; charset=utf-8').send(errorBody(code))
}

/**
 * Installs the error and not-found handlers: every failure leaves as a catalogue body, the cause
 * goes to the log (at error level only for 500s, where the stack is useful to an operator).
 */
export function installErrorHandlers (app: FastifyInstance): void {
  app.setErrorHandler(async (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const code = classifyError(err)
    const e = err as Error & { code?: unknown, cause?: unknown }
    if (code === 'INTERNAL') {
      request.log.error({ err: e }, 'request failed')
    }
    // Only bounded fields go on the request's log line: our code, the library's own code, an
    // inner error's name and code; never a message, which for schema failures may echo the token.
    const cause = e.cause as { name?: unknown, code?: unknown } | undefined
    logFields(request, {
      code,
      lib_code: !(err instanceof EnrollmentError) && typeof e.code === 'string' && e.code.length <= 64 ? e.code : undefined,
      cause: typeof cause?.code === 'string' ? `${String(cause.name)}:${cause.code}` : undefined
    })
    reply.header('cache-control', 'no-store')
    return sendError(reply, code)
  })
  app.setNotFoundHandler(async (_request, reply) => sendError(reply, 'NOT_FOUND'))
}

/**
 * Answers HTTP the parser could not read (malformed request line, header overflow, timeout)
 * with a catalogue body too; fastify's default writes its own shape. Runs below fastify, on the
 * raw socket, so it writes the response by hand and closes the connection.
 */
export function clientErrorHandler (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) { return }
  const code: EnrollmentErrorCode = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? 'REQUEST_TIMEOUT'
    : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'INVALID_REQUEST'
  const status = new EnrollmentError(code).status
  const body = JSON.stringify(errorBody(code))
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
  } else {
    socket.destroy(err)
  }
}
