import { createJsonLogger } from '../http/request-log.ts'
import type { DestinationStream, Logger } from 'pino'

/** The CA service's JSON logger (`svc: dadm-mesh-ca`), secrets redacted; its request lines come from the shared request log. */
export function createServiceLogger (options: { level?: string, destination?: DestinationStream } = {}): Logger {
  return createJsonLogger({ service: 'dadm-mesh-ca', ...options })
}
