/**
 * Folder-level import graph of the source tree and the cycles in it.
 *
 * The layer lint rule says which way an import may point; it cannot see a cycle between two folders of
 * the same layer (pki ↔ store, say). This scan collapses every file to its folder ("unit"), adds an
 * edge per relative import (type-only imports and `import('…')` types included, because a type
 * import ties two folders together as much as a value import does) and lists every elementary cycle.
 *
 * The import list comes from TypeScript's own pre-processor (`ts.preProcessFile`), so comments,
 * strings and template text are never mistaken for imports.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { dirname, extname, join, relative, resolve, sep } from 'node:path'
import ts from 'typescript'

/**
 * A scanned root and how deep its units go: `{ dir: 'src', depth: 1 }` makes `src/pki/x.ts` part of
 * unit `src/pki`; `{ dir: 'simulations', depth: 0 }` makes the whole folder one unit. A file that sits
 * above `depth` (`src/errors.ts`) is a unit of its own.
 */
export interface ScanRoot {
  dir: string
  depth: number
}

/** One import that gave an edge: importing file and imported file, both relative to the scan root. */
export interface ImportSite {
  from: string
  to: string
}

/** unit → unit → the imports behind that edge. */
export type FolderGraph = Map<string, Map<string, ImportSite[]>>

export interface CycleSearch {
  /** Each cycle as its units in order, starting at its smallest unit; the last unit imports the first. */
  cycles: string[][]
  /** True when the search stopped at `limit` cycles. */
  truncated: boolean
}

/** The roots the project's scan covers: the library folders, the protocols and the simulator. */
export const PROJECT_ROOTS: ScanRoot[] = [
  { dir: 'src', depth: 1 },
  { dir: 'protocols', depth: 1 },
  { dir: 'simulations', depth: 0 }
]

/** A source file larger than this is not one anybody wrote by hand; the scan refuses it rather than read it. */
export const MAX_SOURCE_BYTES = 1024 * 1024

/**
 * Above this many cycles the listing stops being something a person reads; the count of folders
 * involved is what matters then.
 */
export const DEFAULT_CYCLE_LIMIT = 500

const SOURCE_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'])

export class SourceTooLargeError extends Error {
  static name = 'SourceTooLargeError'
  readonly code = 'SOURCE_TOO_LARGE'

  constructor (file: string, size: number) {
    super(`${file} is ${size} bytes, over the scan's ${MAX_SOURCE_BYTES}-byte limit`)
    this.name = SourceTooLargeError.name
  }
}

const toPosix = (p: string): string => p.split(sep).join('/')

/** The unit a root-relative posix path belongs to, or undefined when it lies outside every root. */
export function unitOf (file: string, roots: ScanRoot[]): string | undefined {
  const parts = file.split('/')
  for (const root of roots) {
    const rootParts = root.dir.split('/')
    if (!rootParts.every((part, i) => parts[i] === part) || parts.length <= rootParts.length) {
      continue
    }
    const below = parts.slice(rootParts.length)
    // a file above the unit depth (src/errors.ts) stands alone; a file at or below it joins its folder
    return below.length <= root.depth ? file : [...rootParts, ...below.slice(0, root.depth)].join('/')
  }
  return undefined
}

/** The relative module specifiers a source text imports or re-exports, type-only ones included. */
export function importSpecifiers (text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles
    .map(f => f.fileName)
    .filter(name => name.startsWith('./') || name.startsWith('../'))
}

async function listSources (base: string, dir: string): Promise<string[]> {
  const abs = join(base, dir)
  const exists = await stat(abs).then(s => s.isDirectory(), () => false)
  if (!exists) {
    return []
  }
  const entries = await readdir(abs, { recursive: true, withFileTypes: true })
  return entries
    .filter(e => e.isFile() && SOURCE_EXTENSIONS.has(extname(e.name)) && !e.name.endsWith('.d.ts'))
    .map(e => toPosix(relative(base, join(e.parentPath, e.name))))
    .sort()
}

/** Reads every source file under `roots` (paths relative to `base`) and builds the folder graph. */
export async function scanFolderGraph (base: string, roots: ScanRoot[] = PROJECT_ROOTS): Promise<FolderGraph> {
  const graph: FolderGraph = new Map()
  for (const root of roots) {
    for (const file of await listSources(base, root.dir)) {
      const fromUnit = unitOf(file, roots)
      if (fromUnit == null) {
        continue
      }
      const abs = join(base, file)
      const { size } = await stat(abs)
      if (size > MAX_SOURCE_BYTES) {
        throw new SourceTooLargeError(file, size)
      }
      const text = await readFile(abs, 'utf8')
      for (const spec of importSpecifiers(text)) {
        const target = toPosix(relative(base, resolve(dirname(abs), spec)))
        const toUnit = unitOf(target, roots)
        if (toUnit == null || toUnit === fromUnit) {
          continue
        }
        const edges = graph.get(fromUnit) ?? new Map<string, ImportSite[]>()
        graph.set(fromUnit, edges)
        const sites = edges.get(toUnit) ?? []
        edges.set(toUnit, sites)
        sites.push({ from: file, to: target })
      }
    }
  }
  return graph
}

/**
 * Every elementary cycle of the graph, each reported once from its smallest unit (by name): a walk
 * from unit s only passes through units that sort after s, so a cycle is found from exactly one start.
 */
export function findCycles (graph: FolderGraph, limit: number = DEFAULT_CYCLE_LIMIT): CycleSearch {
  const units = [...new Set([...graph.keys(), ...[...graph.values()].flatMap(e => [...e.keys()])])].sort()
  const cycles: string[][] = []
  let truncated = false

  const walk = (start: string, path: string[], onPath: Set<string>): void => {
    const here = path[path.length - 1]
    for (const next of [...(graph.get(here)?.keys() ?? [])].sort()) {
      if (truncated) {
        return
      }
      if (next === start) {
        if (cycles.length >= limit) {
          truncated = true
          return
        }
        cycles.push([...path])
      } else if (next > start && !onPath.has(next)) {
        onPath.add(next)
        path.push(next)
        walk(start, path, onPath)
        path.pop()
        onPath.delete(next)
      }
    }
  }

  for (const start of units) {
    walk(start, [start], new Set([start]))
  }
  return { cycles, truncated }
}

/**
 * The strongly connected sets of the graph with more than one unit (Tarjan): the folders that reach each
 * other through some chain of imports. Every cycle lies inside one of them, and the edges inside them
 * are the imports to cut.
 */
export function findTangles (graph: FolderGraph): string[][] {
  const units = [...new Set([...graph.keys(), ...[...graph.values()].flatMap(e => [...e.keys()])])].sort()
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const tangles: string[][] = []

  const visit = (unit: string): void => {
    index.set(unit, index.size)
    low.set(unit, index.get(unit) ?? 0)
    stack.push(unit)
    onStack.add(unit)
    for (const next of [...(graph.get(unit)?.keys() ?? [])].sort()) {
      if (!index.has(next)) {
        visit(next)
        low.set(unit, Math.min(low.get(unit) ?? 0, low.get(next) ?? 0))
      } else if (onStack.has(next)) {
        low.set(unit, Math.min(low.get(unit) ?? 0, index.get(next) ?? 0))
      }
    }
    if (low.get(unit) === index.get(unit)) {
      const set: string[] = []
      let member: string | undefined
      do {
        member = stack.pop()
        if (member != null) {
          onStack.delete(member)
          set.push(member)
        }
      } while (member != null && member !== unit)
      if (set.length > 1) {
        tangles.push(set.sort())
      }
    }
  }

  for (const unit of units) {
    if (!index.has(unit)) {
      visit(unit)
    }
  }
  return tangles.sort((a, b) => a[0].localeCompare(b[0]))
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

function example (sites: ImportSite[]): string {
  return `${plural(sites.length, 'import')}, e.g. ${sites[0].from} -> ${sites[0].to}`
}

/**
 * Human-readable report: the tangles, the mutual imports (two-folder cycles), every cycle on one line,
 * and each import edge that lies on a cycle with an example import, which is where a fix starts.
 */
export function formatCycles (graph: FolderGraph, search: CycleSearch): string[] {
  if (search.cycles.length === 0) {
    return ['import scan: no folder cycles among ' + 'src/*, protocols/*, simulations']
  }
  const tangles = findTangles(graph)
  const lines = [`import scan: ${plural(search.cycles.length, 'folder cycle')}${search.truncated ? ' (listing stopped at the limit)' : ''}, in ${plural(tangles.length, 'tangle')}`]
  tangles.forEach((set, i) => {
    lines.push(`tangle ${i + 1} (${plural(set.length, 'folder')}): ${set.join(', ')}`)
  })

  lines.push('mutual imports:')
  for (const cycle of search.cycles.filter(c => c.length === 2)) {
    const [a, b] = cycle
    lines.push(`  ${a} <-> ${b}`)
    lines.push(`    ${a} -> ${b}: ${example(graph.get(a)?.get(b) ?? [])}`)
    lines.push(`    ${b} -> ${a}: ${example(graph.get(b)?.get(a) ?? [])}`)
  }

  lines.push('every cycle:')
  for (const cycle of search.cycles) {
    lines.push(`  ${[...cycle, cycle[0]].join(' -> ')}`)
  }

  lines.push('edges inside a tangle (each lies on some cycle):')
  for (const set of tangles) {
    const members = new Set(set)
    for (const from of set) {
      for (const [to, sites] of [...(graph.get(from) ?? new Map<string, ImportSite[]>())].sort(([a], [b]) => a.localeCompare(b))) {
        if (members.has(to)) {
          lines.push(`  ${from} -> ${to}: ${example(sites)}`)
        }
      }
    }
  }
  return lines
}
