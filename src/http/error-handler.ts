import { writeRawJsonError } from './raw-error.ts'
import { logFields } from './request-log.ts'
import type { BaseHttpCode, CatalogueErrorClass, ErrorCatalogue } from './error-catalogue.ts'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Socket } from 'node:net'

/** How a service's failures become its catalogue codes, beyond the codes every catalogue has. */
export interface ErrorMap<C extends string> {
  catalogue: ErrorCatalogue<C | BaseHttpCode>
  /** The service's error class (built on `catalogue.Error`), for the errors the shared layer raises. */
  Error: CatalogueErrorClass<C | BaseHttpCode>
  /**
   * The code for a body that is not JSON the service takes (fastify's empty or invalid JSON, a
   * SyntaxError). Absent: fastify's JSON errors are INVALID_REQUEST and a SyntaxError is INTERNAL.
   */
  invalidJson?: C
  /**
   * Which body field a schema failure concerns decides its 400 code, keyed by the JSON pointer of
   * the field (`/token`); a failure on any other field is INVALID_REQUEST.
   */
  fields?: Readonly<Record<string, C>>
}

/** Fastify's own error codes that reach a handler, mapped into the shared codes. */
const FASTIFY_CODES: Record<string, BaseHttpCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_REQUEST'
}
const JSON_CODES = new Set(['FST_ERR_CTP_EMPTY_JSON_BODY', 'FST_ERR_CTP_INVALID_JSON_BODY'])

/** Statuses of errors that carry no code we know (from fastify or a plugin). */
const STATUS_CODES: Partial<Record<number, BaseHttpCode>> = {
  400: 'INVALID_REQUEST',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  503: 'UNAVAILABLE'
}

type SchemaFailure = Array<{ instancePath?: string, params?: Record<string, unknown> }>

/** The code for a schema failure: the first failing field the map names, else INVALID_REQUEST. */
function schemaCode<C extends string> (validation: SchemaFailure, fields: Readonly<Record<string, C>>): C | BaseHttpCode {
  for (const v of validation) {
    // A missing required field shows up at the parent path with params.missingProperty.
    const missing = typeof v.params?.missingProperty === 'string' ? `/${v.params.missingProperty}` : ''
    const path = v.instancePath !== '' && v.instancePath != null ? v.instancePath : missing
    const code = fields[path]
    if (code != null) { return code }
  }
  return 'INVALID_REQUEST'
}

/** Translates whatever a request raised into one catalogue code. */
export function classifyError<C extends string> (err: unknown, map: ErrorMap<C>): C | BaseHttpCode {
  if (err instanceof map.catalogue.Error) { return err.code }
  const e = err as Partial<FastifyError> & { validation?: unknown }
  if (e.validation != null) {
    return Array.isArray(e.validation) ? schemaCode(e.validation, map.fields ?? {}) : 'INVALID_REQUEST'
  }
  if (typeof e.code === 'string' && FASTIFY_CODES[e.code] != null) {
    return JSON_CODES.has(e.code) && map.invalidJson != null ? map.invalidJson : FASTIFY_CODES[e.code]
  }
  if (err instanceof SyntaxError && map.invalidJson != null) { return map.invalidJson }
  return STATUS_CODES[e.statusCode ?? 0] ?? 'INTERNAL'
}

/** Sends the catalogue body for `code`; the status comes from the catalogue too. */
export async function sendError<C extends string> (reply: FastifyReply, catalogue: ErrorCatalogue<C>, code: C): Promise<FastifyReply> {
  return reply.code(catalogue.status(code)).type('application/json; charset=utf-8').send(catalogue.body(code))
}

/**
 * Installs the error and not-found handlers: every failure leaves as a catalogue body marked
 * `no-store`, the cause goes to the log (at error level only for 500s, where the stack is useful
 * to an operator).
 */
export function installErrorHandlers<C extends string> (app: FastifyInstance, map: ErrorMap<C>): void {
  const { catalogue } = map
  app.setErrorHandler(async (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const code = classifyError(err, map)
    const e = err as Error & { code?: unknown, cause?: unknown }
    if (code === 'INTERNAL') {
      request.log.error({ err: e }, 'request failed')
    }
    // Only bounded fields go on the request's log line: our code, the library's own code, an
    // inner error's name and code; never a message, which for schema failures may echo a secret.
    const cause = e.cause as { name?: unknown, code?: unknown } | undefined
    logFields(request, {
      code,
      lib_code: !(err instanceof catalogue.Error) && typeof e.code === 'string' && e.code.length <= 64 ? e.code : undefined,
      cause: typeof cause?.code === 'string' ? `${String(cause.name)}:${cause.code}` : undefined
    })
    reply.header('cache-control', 'no-store')
    return sendError(reply, catalogue, code)
  })
  app.setNotFoundHandler(async (_request, reply) => sendError(reply, catalogue, 'NOT_FOUND'))
}

/** node:http parser failures with a code of their own; any other is INVALID_REQUEST. */
const PARSER_CODES: Record<string, BaseHttpCode> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE'
}

/**
 * The node:http `clientError` handler: answers HTTP the parser could not read (malformed request
 * line, header overflow, timeout) with a catalogue body too, where fastify's default writes its
 * own shape. It runs below fastify, on the raw socket.
 */
export function catalogueClientErrorHandler<C extends string> (catalogue: ErrorCatalogue<C | BaseHttpCode>): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    const code = PARSER_CODES[err.code ?? ''] ?? 'INVALID_REQUEST'
    writeRawJsonError(socket, err, catalogue.status(code), catalogue.body(code))
  }
}
