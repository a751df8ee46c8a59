import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Logger } from '@libp2p/interface'

const noop = (): void => {}

/** A logger that drops everything; every scope is the same object. */
const QUIET: Logger = Object.assign((_f: any, ..._a: any[]) => {}, { error: noop, trace: noop, enabled: false, newScope: () => QUIET })

/**
 * The nodes' libp2p logger. Hundreds of nodes create a `debug` logger per connection and per
 * stream, each asking the terminal whether it takes colours (an isatty call): measured at about
 * 2% of a 150-node formation's CPU for nothing. With DEBUG set (to debug the harness) the real
 * logger is used.
 */
export function simLogger (): ComponentLogger {
  if (process.env.DEBUG != null && process.env.DEBUG !== '') { return defaultLogger() }
  return { forComponent: () => QUIET }
}
