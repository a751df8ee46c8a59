import { Writable } from 'node:stream'
import { UsageError } from './io.ts'
import { LOG_FORMATS, LOG_LEVELS } from './specs/spec.ts'

export type LogFormat = typeof LOG_FORMATS[number]

/** `--log-level` and `--log-format`, checked: a bad value is a usage error naming the flag, before anything starts. */
export function logOptions (values: { 'log-level'?: string, 'log-format'?: string }): { level: string, format: LogFormat } {
  const level = values['log-level'] ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(level)) { throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level)}`) }
  const format = values['log-format'] ?? 'json'
  if (!(LOG_FORMATS as readonly string[]).includes(format)) { throw new UsageError(`--log-format must be json or pretty, not ${JSON.stringify(format)}`) }
  return { level, format: format as LogFormat }
}

/** Where a command's pino logger writes. */
export interface LogSink { write(s: string): unknown }

/**
 * The stream a long-running command's logger writes to: `out` itself for JSON lines (what log
 * collectors and journald read), or pino-pretty in front of it for people, coloured only when
 * `out` is a terminal. pino-pretty is loaded only when chosen.
 */
export async function logDestination (format: LogFormat, out: LogSink): Promise<LogSink> {
  if (format === 'json') { return out }
  const { default: pretty } = await import('pino-pretty')
  const tty = (out as { isTTY?: boolean }).isTTY === true
  // pino-pretty pipes into a stream; a bare writer (as tests pass) is wrapped into one.
  const destination = typeof (out as { on?: unknown }).on === 'function'
    ? out as NodeJS.WritableStream
    : new Writable({ write (chunk: Buffer, _enc, cb) { out.write(chunk.toString()); cb() } })
  return pretty({ colorize: tty, destination, sync: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' })
}
