/*
 * Prints every folder cycle among src/*, protocols/* and simulations/ (type-only imports count).
 *
 *   node scripts/import-cycles.ts            print the cycles, exit 0
 *   node scripts/import-cycles.ts --strict   print the cycles, exit 1 if there is any
 *
 * `npm run lint` runs it without --strict: the cycles that remain are listed in the README as known,
 * and the lint rule, not this scan, is what stops new wrong-way imports.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findCycles, formatCycles, scanFolderGraph } from './import-scan.ts'

const USAGE = 'usage: node scripts/import-cycles.ts [--strict]'

const args = process.argv.slice(2)
const unknown = args.filter(a => a !== '--strict')
if (unknown.length > 0) {
  process.stderr.write(`unknown argument ${unknown[0]}\n${USAGE}\n`)
  process.exit(2)
}

const repo = join(dirname(fileURLToPath(import.meta.url)), '..')
const graph = await scanFolderGraph(repo)
const search = findCycles(graph)
process.stdout.write(formatCycles(graph, search).join('\n') + '\n')
if (args.includes('--strict') && search.cycles.length > 0) {
  process.exit(1)
}
