import type { CommandSpec, OptionSpec } from './specs/spec.ts'

/** The exit codes every command shares; a spec's `exitCodes` add to or reword them. */
const COMMON_EXIT_CODES: Record<number, string> = {
  0: 'success',
  1: 'refused or failed; stderr says `error: CODE: message`',
  2: 'bad command line or unusable input file; the message names the flag or file'
}

/** Width of the option column: long enough for most, the rest wrap onto their own line. */
const OPTION_COLUMN = 32

/** How an option is written in the help and the usage line: `--dir DIR`, `--json`, `-h, --help`. */
export function optionLabel (name: string, o: OptionSpec): string {
  const value = o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''
  return `${o.short != null ? `-${o.short}, ` : ''}--${name}${value}`
}

/** The one-line synopsis: the required options, `[options]`, then the positionals. */
export function synopsis (spec: CommandSpec): string {
  const parts = [`dadm-mesh ${spec.name}`]
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.required === true) { parts.push(`--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`) }
  }
  parts.push('[options]')
  for (const p of spec.positionals ?? []) { parts.push(p.name) }
  return parts.join(' ')
}

/** What an option's help line ends with: (required), (default: X), (repeatable). */
function notes (o: OptionSpec): string {
  const out: string[] = []
  if (o.required === true) { out.push('required') }
  if (o.multiple === true) { out.push('repeatable') }
  const shown = o.shownDefault ?? (typeof o.default === 'string' ? o.default : undefined)
  if (shown != null && o.required !== true) { out.push(`default: ${shown}`) }
  return out.length > 0 ? ` (${out.join('; ')})` : ''
}

/** The full `--help` text of one command. */
export function commandHelp (spec: CommandSpec): string {
  const lines: string[] = [`usage: ${synopsis(spec)}`, '', spec.summary]
  if (spec.description != null) { lines.push('', spec.description) }
  if ((spec.positionals ?? []).length > 0) {
    lines.push('', 'arguments:')
    for (const p of spec.positionals ?? []) { lines.push(row(p.name, p.help)) }
  }
  lines.push('', 'options:')
  for (const [name, o] of Object.entries(spec.options)) { lines.push(row(optionLabel(name, o), o.help + notes(o))) }
  lines.push(row('-h, --help', 'print this help and exit'))
  lines.push('', 'examples:')
  for (const e of spec.examples) { lines.push(`  ${e}`) }
  lines.push('', 'exit codes:')
  for (const [code, text] of Object.entries({ ...COMMON_EXIT_CODES, ...spec.exitCodes })) { lines.push(`  ${code}  ${text}`) }
  return lines.join('\n') + '\n'
}

function row (label: string, text: string): string {
  const left = `  ${label}`
  return left.length < OPTION_COLUMN ? left.padEnd(OPTION_COLUMN) + text : `${left}\n${' '.repeat(OPTION_COLUMN)}${text}`
}

/** The top-level help: every command with its one-line summary. */
export function overallHelp (commands: Array<{ name: string, summary: string }>): string {
  const width = Math.max(...commands.map(c => c.name.length)) + 'dadm-mesh '.length + 2
  return 'usage: dadm-mesh COMMAND [options]\n\ncommands:\n' +
    commands.map(c => `  ${`dadm-mesh ${c.name}`.padEnd(width)}${c.summary}\n`).join('') +
    '\n`dadm-mesh COMMAND --help` shows a command\'s options, defaults, examples and exit codes.\n' +
    '`dadm-mesh --version` prints the version.\n\n' +
    'Key files are encrypted with the passphrase from DADM_MESH_PASSPHRASE or --passphrase-file.\n' +
    'The admin key of `ca admin-cert` has its own: DADM_MESH_ADMIN_KEY_PASSPHRASE or --key-passphrase-file.\n' +
    'Passphrase and PIN files must not be readable by group or others (chmod 600).\n'
}
