/*
 * The layer rule: which folder may import which.
 *
 * Imports point down only:
 *
 *   tools     simulations/, bench/, lab/
 *   process   src/cli, src/daemon, src/enrollment            (the running programs and their wiring;
 *             src/index.ts                                   the package entry, which re-exports any layer)
 *   node      src/node                                      (the mesh-node library)
 *   protocols protocols/*
 *   library   src/pki, src/ca, src/dtn, src/store, src/identity, src/attestation, src/http, src/metrics, src/util, src/errors.ts
 *
 * A file may import its own layer and the layers below it, never one above. Type-only imports count:
 * a type import from a higher layer still means the lower folder cannot be read, built or moved
 * without the higher one.
 *
 * `aegir lint` always lints with aegir's own config file and never reads a project config, so this rule
 * runs as its own ESLint pass (`npm run lint`: `eslint -c eslint.layers.config.js`). It needs no type
 * information, so that pass only parses.
 *
 * EXCEPTIONS lists the wrong-way imports the tree still has, each as one importing file, the exact
 * files it may import against the rule, and why the import is still there. A listed file gets no
 * other exemption: a new wrong-way import in it fails like anywhere else. The list only shrinks.
 */
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import aegirConfig from 'aegir/eslint.config.js'

const ROOT = fileURLToPath(new URL('.', import.meta.url))

/** Layers from the top down; each lists the folders (or single files) in it, relative to the repo root. */
export const LAYERS = [
  { name: 'tools', paths: ['simulations', 'bench', 'lab'] },
  { name: 'process', paths: ['src/cli', 'src/daemon', 'src/enrollment', 'src/index.ts'] },
  { name: 'node', paths: ['src/node'] },
  { name: 'protocols', paths: ['protocols'] },
  {
    name: 'library',
    paths: ['src/pki', 'src/ca', 'src/dtn', 'src/store', 'src/identity', 'src/attestation', 'src/http', 'src/metrics', 'src/util', 'src/errors.ts']
  }
]

/**
 * @typedef {object} LayerException
 * @property {string} file - the importing file, relative to the repo root
 * @property {string[]} imports - the files it may import against the layer rule
 * @property {string} why - one line: why the import is still there and where it goes
 */

/** @type {LayerException[]} */
export const EXCEPTIONS = [
  // process -> tools
  {
    file: 'src/cli/main.ts',
    imports: ['simulations/cli/command.ts'],
    why: 'the `sim` subcommand; the simulator keeps its own entry point (npm run sim) and the CLI stops reaching into it'
  }
]

/**
 * @typedef {object} Zone
 * @property {string} target - the folder or file whose imports the zone checks
 * @property {string} from - the folder it may not import from
 * @property {string[]} except - files under `from` it may import all the same, relative to `from`
 * @property {string} message - appended to the rule's report
 */

/**
 * The rule's zones: every folder of a layer against every folder of each layer above it.
 *
 * @returns {Zone[]}
 */
function layerZones () {
  /** @type {Zone[]} */
  const zones = []
  LAYERS.forEach((layer, i) => {
    for (const above of LAYERS.slice(0, i)) {
      for (const target of layer.paths) {
        for (const from of above.paths) {
          zones.push({
            target,
            from,
            except: [],
            message: `${layer.name} (${target}) may not import ${above.name} (${from}); see LAYERS and EXCEPTIONS in eslint.layers.config.js.`
          })
        }
      }
    }
  })
  return zones
}

const ZONES = layerZones()

/**
 * @param {string} file
 * @param {string} dir
 */
const inside = (file, dir) => file === dir || file.startsWith(`${dir}/`)

/**
 * The zones for one listed file: the same as everyone's, except that each zone forbidding an import the
 * file is allowed names that one imported file in `except`. Throws on an entry that exempts nothing,
 * so the list cannot keep entries the tree no longer needs.
 *
 * @param {LayerException} exception
 * @returns {Zone[]}
 */
function zonesFor (exception) {
  const zones = ZONES.map(zone => ({ ...zone, except: [...zone.except] }))
  for (const imported of exception.imports) {
    const hits = zones.filter(z => inside(exception.file, z.target) && inside(imported, z.from))
    if (hits.length === 0) {
      throw new Error(`eslint.layers.config.js: ${exception.file} importing ${imported} breaks no layer; drop it from EXCEPTIONS`)
    }
    for (const zone of hits) {
      zone.except.push(relative(zone.from, imported))
    }
  }
  return zones
}

/**
 * @param {LayerException[]} exceptions
 */
function checkExceptions (exceptions) {
  const files = new Set()
  for (const exception of exceptions) {
    if (files.has(exception.file)) {
      throw new Error(`eslint.layers.config.js: ${exception.file} is listed twice in EXCEPTIONS; merge the entries`)
    }
    if (exception.why.trim() === '' || exception.imports.length === 0) {
      throw new Error(`eslint.layers.config.js: ${exception.file} needs both imports and a reason`)
    }
    files.add(exception.file)
  }
}

/**
 * The same parser and import plugin aegir's own config loads, so this pass resolves imports exactly as
 * `aegir lint` does, without a second copy of either.
 *
 * @returns {{ parser: import('eslint').Linter.Parser, plugin: import('eslint').ESLint.Plugin }}
 */
function aegirPieces () {
  // aegir's declared type is the union of its own blocks, narrower than what ESLint accepts
  const blocks = /** @type {import('eslint').Linter.Config[]} */ (/** @type {unknown} */ (aegirConfig))
  const parser = /** @type {import('eslint').Linter.Parser | undefined} */ (blocks.find(c => c.name === 'neostandard/ts')?.languageOptions?.parser)
  const plugin = blocks.find(c => c.name === 'neostandard/base')?.plugins?.import
  if (parser == null || plugin == null) {
    throw new Error('eslint.layers.config.js: aegir\'s ESLint config no longer carries the TypeScript parser or the import plugin')
  }
  return { parser, plugin }
}

/**
 * @param {Zone[]} zones
 * @returns {import('eslint').Linter.RulesRecord}
 */
const rule = (zones) => ({ 'import/no-restricted-paths': ['error', { basePath: ROOT, zones }] })

/**
 * The flat config of the layer pass for a given exception list (the test of this config passes its own).
 *
 * @param {LayerException[]} exceptions
 * @returns {import('eslint').Linter.Config[]}
 */
export function layerConfig (exceptions) {
  checkExceptions(exceptions)
  const { parser, plugin } = aegirPieces()
  return [
    {
      ignores: ['dist/**', 'node_modules/**', '**/*.d.ts']
    },
    {
      name: 'dadm-mesh/layers',
      files: ['src/**/*.{ts,js}', 'protocols/**/*.{ts,js}', 'simulations/**/*.{ts,js}', 'bench/**/*.{ts,js}', 'lab/**/*.{ts,js}'],
      languageOptions: {
        parser,
        parserOptions: { sourceType: 'module', ecmaVersion: 'latest' }
      },
      plugins: { import: plugin },
      // Exceptions live in EXCEPTIONS with their reason, not in `eslint-disable` comments scattered over
      // the tree; comments written for aegir's rules are ignored here (--quiet drops the notice).
      linterOptions: { noInlineConfig: true, reportUnusedDisableDirectives: 'off' },
      rules: rule(ZONES)
    },
    ...exceptions.map(exception => ({
      name: `dadm-mesh/layers/exception/${exception.file}`,
      files: [exception.file],
      rules: rule(zonesFor(exception))
    }))
  ]
}

export default layerConfig(EXCEPTIONS)
