/**
 * The shape of a command's declaration. One table per command drives both its parser
 * (node:util.parseArgs reads `type`, `multiple`, `short`, `default` and ignores the rest) and its
 * `--help`, so the help cannot list an option the parser refuses or miss one it accepts.
 * Spec files import nothing heavy: `--help` loads only them.
 */

/** One option: what parseArgs needs, plus what the help prints. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  multiple?: boolean
  short?: string
  /** Applied by the parser. */
  default?: string | boolean | string[]
  /** One line for the help. */
  help: string
  /** The value's placeholder in the help (e.g. DIR, HOST:PORT). */
  arg?: string
  /** The default in words, for options whose default the command works out (e.g. "node.json's, else 60s"). */
  shownDefault?: string
  /** The parser refuses the command line without it (exit 2, naming the flag). */
  required?: boolean
}

/** A command's whole declaration. */
export interface CommandSpec {
  /** The words after `dadm-mesh`, e.g. "ca init". */
  name: string
  /** One line: what it does (the top-level help lists it). */
  summary: string
  /** More lines of explanation, printed under the usage line. */
  description?: string
  /** Positional arguments, in order. */
  positionals?: Array<{ name: string, help: string }>
  options: Record<string, OptionSpec>
  /** One to three full command lines. */
  examples: string[]
  /** Exit codes beyond the usual 0, 1, 2; the help always prints those three. */
  exitCodes?: Record<number, string>
}

/** `--passphrase-file`, which every command that opens a key file takes. */
export const PASSPHRASE_FILE = {
  type: 'string',
  arg: 'F',
  help: 'file holding the key passphrase (mode 0600); else DADM_MESH_PASSPHRASE'
} satisfies OptionSpec

/** `--json`: the result as one JSON document on stdout instead of text. */
export function JSON_OUTPUT (what = 'the result'): { type: 'boolean', default: boolean, help: string } {
  return { type: 'boolean', default: false, help: `print ${what} as JSON on stdout` }
}

/** The pino levels `--log-level` takes. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** The forms `--log-format` takes. */
export const LOG_FORMATS = ['json', 'pretty'] as const

/** `--log-level` for the long-running commands. */
export const LOG_LEVEL = { type: 'string', default: 'info', arg: 'LEVEL', help: `log level: ${LOG_LEVELS.join(', ')}` } satisfies OptionSpec

/** `--log-format` for the long-running commands. */
export const LOG_FORMAT = { type: 'string', default: 'json', arg: 'FORMAT', help: 'json (pino JSON lines, for log collectors) or pretty (readable lines, coloured on a terminal)' } satisfies OptionSpec
