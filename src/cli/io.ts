import { parseArgs } from 'node:util'
import { MeshError } from '../errors.ts'
import type { OptionSpec } from './specs/spec.ts'
import type { ParseArgsConfig } from 'node:util'

/** Where a command writes, what environment it reads, and (for tests) its clock. */
export interface CliIo {
  stdout: { write(s: string): unknown }
  stderr: { write(s: string): unknown }
  env: Record<string, string | undefined>
  /** The clock; the real one when absent. */
  now?(): Date
}

/**
 * Exit codes: 0 success, 1 refused or invalid, 2 bad command line, 3 this node's certificate is
 * revoked (a service manager must not restart it: RestartPreventExitStatus=3).
 */
export const EXIT = { OK: 0, FAIL: 1, USAGE: 2, REVOKED: 3 } as const

/** A subcommand: takes its own arguments and the streams, returns an exit code. */
export type Command = (args: string[], io: CliIo) => Promise<number>

/** Raised for a bad command line; `main` prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  static name = 'UsageError'
}

/** `parseArgs` in strict mode, turning its errors into UsageError. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>> (args: string[], options: T, allowPositionals = false): ReturnType<typeof parseArgs<{ args: string[], options: T, strict: true, allowPositionals: boolean }>> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals, allowNegative: false })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/**
 * Parses a command line with the command's declared table (src/cli/specs): the table the help
 * prints is the one the parser uses. Options marked `required` are refused when absent (exit 2,
 * naming the flag) before the command does anything.
 */
export function parseCommand<O extends Record<string, OptionSpec>> (args: string[], spec: { options: O, positionals?: unknown[] }): ReturnType<typeof parseArgs<{ args: string[], options: O, strict: true, allowPositionals: boolean }>> {
  const parsed = parse(args, spec.options, spec.positionals != null)
  const values = parsed.values as Record<string, unknown>
  for (const [name, o] of Object.entries(spec.options)) {
    const v = values[name]
    if (o.required === true && (v == null || v === '' || (Array.isArray(v) && v.length === 0))) { throw new UsageError(`--${name} is required`) }
  }
  return parsed
}

/** Requires a string option. */
export function required (value: string | undefined, flag: string): string {
  if (value == null || value === '') { throw new UsageError(`${flag} is required`) }
  return value
}

/** The time now, from the injected clock. */
export function nowOf (io: CliIo): Date {
  return io.now?.() ?? new Date()
}

/**
 * Codes that mean the operator handed the command something it must not use (a secret file others
 * can read, an admin key passphrase that is too short or is the CA's): like a bad flag, these exit
 * 2, and the message names the file or the flag.
 */
const OPERATOR_INPUT_CODES: ReadonlySet<string> = new Set(['INSECURE_FILE_MODE', 'PASSPHRASE_TOO_SHORT', 'ADMIN_PASSPHRASE_REUSED'])

/** The exit code for an error a command did not catch: 2 for the operator-input codes above, else 1. */
export function exitCodeOf (err: unknown): number {
  return err instanceof MeshError && OPERATOR_INPUT_CODES.has(err.code) ? EXIT.USAGE : EXIT.FAIL
}

/**
 * Prints an error the way every command does: `error: CODE: message` for the mesh's named errors
 * (operators and scripts match on the code), and returns exit code 1 (2 for the operator-input codes).
 */
export function reportError (io: CliIo, err: unknown): number {
  if (err instanceof MeshError) {
    io.stderr.write(`error: ${err.code}: ${err.message}\n`)
    return OPERATOR_INPUT_CODES.has(err.code) ? EXIT.USAGE : EXIT.FAIL
  } else if (err instanceof UsageError) {
    throw err
  } else {
    const e = err as NodeJS.ErrnoException
    io.stderr.write(`error: ${e.code ?? 'FAILED'}: ${e.message}\n`)
  }
  return EXIT.FAIL
}

/** Parses "90", "90s", "30m", "24h", "7d" into seconds. */
export function parseDuration (s: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(s)
  if (m == null) { throw new UsageError(`bad duration ${JSON.stringify(s)} (use e.g. 3600, 30m, 24h, 7d)`) }
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]] as number
  return Number(m[1]) * unit
}
