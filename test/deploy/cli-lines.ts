import { parseCommand } from '../../src/cli/io.ts'
import { COMMANDS } from '../../src/cli/main.ts'

/**
 * The deploy files start `dadm-mesh` with command lines of their own (systemd ExecStart=, the
 * image's entrypoint script, the Kubernetes args and `sh -c` scripts). These helpers pull those
 * command lines out and run them through each command's declared option table, so a flag the CLI
 * does not accept (a typo, a flag renamed since) fails the deploy tests instead of a start.
 */

/** Shell variables stand for values: the table only judges flags and their arity. */
const VALUE = 'X'

function unquote (token: string): string {
  return token.replace(/^["']|["']$/g, '')
}

/**
 * Every `dadm-mesh ...` command line in a shell text, as argv after `dadm-mesh`: continuation
 * lines joined, each ended by `;`, `||`, `&&`, `|`, `>` or the end of the line; `"$@"` dropped;
 * a token holding `$` replaced by a plain value.
 */
export function commandLinesInShell (text: string): string[][] {
  const joined = text.replace(/\\\n/g, ' ')
  const out: string[][] = []
  for (const line of joined.split('\n')) {
    if (line.trimStart().startsWith('#')) { continue }
    for (const m of line.matchAll(/(?:^|[\s;(])dadm-mesh(?:\.js)?\s+([^;|&>\n]*)/g)) {
      const argv = m[1].trim().split(/\s+/).filter(t => t !== '' && t !== '"$@"' && t !== '$@').map(t => t.includes('$') ? VALUE : unquote(t))
      if (argv.length > 0) { out.push(argv) }
    }
  }
  return out
}

/** Parses `argv` (after `dadm-mesh`) with its command's table; returns the command name or throws. */
export function checkCommandLine (argv: string[]): string {
  const two = argv.slice(0, 2).join(' ')
  const name = COMMANDS[two] != null ? two : argv[0]
  const entry = COMMANDS[name]
  if (entry == null) { throw new Error(`unknown dadm-mesh command in ${argv.join(' ')}`) }
  const rest = argv.slice(name.split(' ').length)
  try {
    parseCommand(rest, entry.spec)
  } catch (err) {
    throw new Error(`dadm-mesh ${name}: ${(err as Error).message} (in: ${argv.join(' ')})`)
  }
  return name
}
