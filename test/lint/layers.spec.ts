import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { ESLint } from 'eslint'
import { EXCEPTIONS, LAYERS, layerConfig } from '../../eslint.layers.config.js'
import { importSpecifiers } from '../../scripts/import-scan.ts'
import type { Linter } from 'eslint'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const RULE = 'import/no-restricted-paths'

/** A file that stays in src/node through the moves: the linter only reports imports it can resolve. */
async function nodeFile (): Promise<string> {
  const names = (await readdir(join(ROOT, 'src/node'))).filter(n => n.endsWith('.ts')).sort()
  expect(names, 'src/node holds no .ts file to import').to.not.be.empty()
  return names[0]
}

/**
 * Lints `text` as if it were the file at `filePath` (relative to the repo root). Nothing is written to
 * the tree: lintText takes the path only to decide which rules apply and to resolve imports.
 */
async function lint (eslint: ESLint, text: string, filePath: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(text, { filePath: join(ROOT, filePath) })
  return result.messages
}

const layerErrors = (messages: Linter.LintMessage[]): Linter.LintMessage[] => messages.filter(m => m.ruleId === RULE)

describe('lint: the layer rule (eslint.layers.config.js)', () => {
  let eslint: ESLint
  let fromNode: string

  before(async () => {
    eslint = new ESLint({ cwd: ROOT, overrideConfigFile: join(ROOT, 'eslint.layers.config.js') })
    fromNode = await nodeFile()
  })

  it('reports an import from src/node in src/pki', async () => {
    const messages = await lint(eslint, `import * as node from '../node/${fromNode}'\nexport { node }\n`, 'src/pki/layer-fixture.ts')
    const errors = layerErrors(messages)
    expect(errors).to.have.length(1)
    expect(errors[0].severity).to.equal(2)
    expect(errors[0].message).to.include('library (src/pki) may not import node (src/node)')
  })

  it('reports a type-only import from src/node in src/pki', async () => {
    const messages = await lint(eslint, `import type * as node from '../node/${fromNode}'\nexport type { node }\n`, 'src/pki/layer-fixture.ts')
    expect(layerErrors(messages)).to.have.length(1)
  })

  it('reports a re-export from src/node in src/pki', async () => {
    const messages = await lint(eslint, `export * from '../node/${fromNode}'\n`, 'src/pki/layer-fixture.ts')
    expect(layerErrors(messages)).to.have.length(1)
  })

  it('reports protocols importing src/node and src/node importing src/cli', async () => {
    const up = await lint(eslint, `import '../../src/node/${fromNode}'\n`, 'protocols/auth/layer-fixture.ts')
    expect(layerErrors(up)).to.have.length(1)
    const cli = (await readdir(join(ROOT, 'src/cli'))).filter(n => n.endsWith('.ts')).sort()[0]
    const top = await lint(eslint, `import '../cli/${cli}'\n`, 'src/node/layer-fixture.ts')
    expect(layerErrors(top)).to.have.length(1)
  })

  it('passes an import that points down (src/node importing src/pki, src/pki importing src/util)', async () => {
    const pki = (await readdir(join(ROOT, 'src/pki'))).filter(n => n.endsWith('.ts')).sort()[0]
    const util = (await readdir(join(ROOT, 'src/util'))).filter(n => n.endsWith('.ts')).sort()[0]
    expect(await lint(eslint, `import '../pki/${pki}'\n`, 'src/node/layer-fixture.ts')).to.deep.equal([])
    expect(await lint(eslint, `import '../util/${util}'\n`, 'src/pki/layer-fixture.ts')).to.deep.equal([])
  })

  it('does not let an eslint-disable comment hide a wrong-way import', async () => {
    const text = `// eslint-disable-next-line ${RULE}\nimport '../node/${fromNode}'\n`
    expect(layerErrors(await lint(eslint, text, 'src/pki/layer-fixture.ts'))).to.have.length(1)
  })

  it('exempts a listed file for its listed import only', async () => {
    const listed = new ESLint({
      cwd: ROOT,
      overrideConfigFile: true,
      overrideConfig: layerConfig([{ file: 'src/pki/layer-fixture.ts', imports: [`src/node/${fromNode}`], why: 'fixture' }])
    })
    expect(await lint(listed, `import '../node/${fromNode}'\n`, 'src/pki/layer-fixture.ts')).to.deep.equal([])
    // the same import from a file that is not listed still fails
    expect(layerErrors(await lint(listed, `import '../node/${fromNode}'\n`, 'src/pki/other-fixture.ts'))).to.have.length(1)
    // and the listed file may not add a wrong-way import the entry does not name
    const cli = (await readdir(join(ROOT, 'src/cli'))).filter(n => n.endsWith('.ts')).sort()[0]
    expect(layerErrors(await lint(listed, `import '../node/${fromNode}'\nimport '../cli/${cli}'\n`, 'src/pki/layer-fixture.ts'))).to.have.length(1)
  })

  it('refuses an exception that breaks no layer, and one without a reason', () => {
    expect(() => layerConfig([{ file: 'src/node/x.ts', imports: ['src/pki/y.ts'], why: 'points down' }])).to.throw(/breaks no layer/)
    expect(() => layerConfig([{ file: 'src/pki/x.ts', imports: ['src/node/y.ts'], why: ' ' }])).to.throw(/needs both imports and a reason/)
  })

  it('lists only exceptions the tree still needs: each file exists and still makes each listed import', async () => {
    const stale: string[] = []
    for (const exception of EXCEPTIONS) {
      const text = await readFile(join(ROOT, exception.file), 'utf8').catch(() => undefined)
      if (text == null) {
        stale.push(`${exception.file} (no such file)`)
        continue
      }
      const imported = new Set(importSpecifiers(text).map(s => relative(ROOT, resolve(ROOT, dirname(exception.file), s))))
      for (const target of exception.imports.filter(t => !imported.has(t))) {
        stale.push(`${exception.file} -> ${target} (no longer imported)`)
      }
    }
    expect(stale, 'drop these from EXCEPTIONS in eslint.layers.config.js').to.deep.equal([])
  })

  it('puts every folder under src/ and protocols/ in a layer', async () => {
    const placed = LAYERS.flatMap(l => l.paths)
    const inLayer = (p: string): boolean => placed.some(l => p === l || p.startsWith(`${l}/`))
    const entries = [
      ...(await readdir(join(ROOT, 'src'))).map(n => `src/${n}`),
      ...(await readdir(join(ROOT, 'protocols'))).map(n => `protocols/${n}`)
    ].filter(p => !p.endsWith('.md'))
    expect(entries.filter(p => !inLayer(p)), 'add these to LAYERS in eslint.layers.config.js').to.deep.equal([])
  })
})
