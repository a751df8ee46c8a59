import { MeshError } from '../errors.ts'

/** One catalogue line: the HTTP status and the fixed message a code answers with. */
export interface ErrorEntry {
  readonly status: number
  readonly message: string
}

/**
 * The codes the shared HTTP layer answers with by itself (unparsable requests, unknown routes,
 * oversize bodies, shutdown, unexpected failures), so every service's catalogue must have them.
 */
export type BaseHttpCode = 'INVALID_REQUEST' | 'NOT_FOUND' | 'REQUEST_TIMEOUT' | 'BODY_TOO_LARGE' |
'UNSUPPORTED_MEDIA_TYPE' | 'HEADERS_TOO_LARGE' | 'INTERNAL' | 'UNAVAILABLE'

/** The JSON body of every error response: `{ "error": { "code", "message" } }`. */
export interface HttpErrorBody<C extends string = string> {
  error: { code: C, message: string }
}

/** An error raised on purpose inside a service: its code picks the status and message. */
export interface CatalogueError<C extends string> extends MeshError<C> {
  /** HTTP status for this error, from the catalogue. */
  readonly status: number
}

/** The error class of one catalogue. */
export interface CatalogueErrorClass<C extends string> {
  new (code: C, options?: ErrorOptions): CatalogueError<C>
  readonly prototype: CatalogueError<C>
}

/** A service's catalogue: its table, its error class and the bodies built from it. */
export interface ErrorCatalogue<C extends string> {
  readonly entries: Readonly<Record<C, ErrorEntry>>
  /**
   * The base of the service's error class (`class EnrollmentError extends CATALOGUE.Error`):
   * message and status come from the table.
   */
  readonly Error: CatalogueErrorClass<C>
  /** True when `s` is one of this catalogue's codes (a body read back over the wire). */
  isCode(s: unknown): s is C
  /** The response body for `code`, built only from the table. */
  body(code: C): HttpErrorBody<C>
  status(code: C): number
}

/**
 * Builds a service's error catalogue (after Fastify's `lib/errors.js`): each code has one HTTP
 * status and one fixed message, and bodies are built only from this table, so no stack trace,
 * no library message and no detail a caller could use to probe can leak.
 */
export function errorCatalogue<T extends Record<BaseHttpCode, ErrorEntry> & Record<string, ErrorEntry>> (entries: T): ErrorCatalogue<keyof T & string> {
  type C = keyof T & string
  class CatalogueErrorBase extends MeshError<C> {
    constructor (code: C, options?: ErrorOptions) {
      super(code, entries[code].message, options)
    }

    get status (): number {
      return entries[this.code].status
    }
  }
  return {
    entries,
    Error: CatalogueErrorBase,
    isCode: (s: unknown): s is C => typeof s === 'string' && Object.hasOwn(entries, s),
    body: (code: C) => ({ error: { code, message: entries[code].message } }),
    status: (code: C) => entries[code].status
  }
}
