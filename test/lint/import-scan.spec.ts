import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { expect } from 'aegir/chai'
import { findCycles, findTangles, formatCycles, MAX_SOURCE_BYTES, PROJECT_ROOTS, scanFolderGraph, unitOf } from '../../scripts/import-scan.ts'

/** Writes a small source tree: path (relative) → file text. */
async function tree (root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), text)
  }
}

async function rejects (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('lint: the folder import scan (scripts/import-scan.ts)', () => {
  let root: string

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'import-scan-'))
  })

  afterEach(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('finds the cycle when two folders import each other, the way back being type-only', async () => {
    await tree(root, {
      'src/a/x.ts': "import { y } from '../b/y.ts'\nexport const x = y\n",
      'src/b/y.ts': "import type { X } from '../a/x.ts'\nexport const y = 1\nexport type Y = X\n"
    })
    const graph = await scanFolderGraph(root)
    const search = findCycles(graph)
    expect(search.cycles).to.deep.equal([['src/a', 'src/b']])
    expect(search.truncated).to.equal(false)
    expect(findTangles(graph)).to.deep.equal([['src/a', 'src/b']])
    expect(formatCycles(graph, search).join('\n')).to.include('src/b -> src/a: 1 import, e.g. src/b/y.ts -> src/a/x.ts')
  })

  it('finds a three-folder cycle once, through re-exports, import() types and protocols/ and simulations/', async () => {
    await tree(root, {
      'src/a/x.ts': "export * from '../../protocols/p/index.ts'\n",
      'protocols/p/index.ts': "export type S = typeof import('../../simulations/run.ts')\n",
      'simulations/run.ts': "export { x } from '../src/a/x.ts'\n"
    })
    const search = findCycles(await scanFolderGraph(root))
    expect(search.cycles).to.deep.equal([['protocols/p', 'simulations', 'src/a']])
  })

  it('finds no cycle in an acyclic tree, while still seeing its edges', async () => {
    await tree(root, {
      'src/a/x.ts': "import '../b/y.ts'\nimport '../errors.ts'\n",
      'src/b/y.ts': "import '../c/z.ts'\n",
      'src/c/z.ts': "// import '../a/x.ts' is a comment, not an import\nexport const s = \"import '../a/x.ts'\"\n",
      'src/errors.ts': 'export class E extends Error {}\n',
      'protocols/p/index.ts': "import '../../src/a/x.ts'\n",
      'simulations/run.ts': "import '../protocols/p/index.ts'\nimport 'node:fs'\n"
    })
    const graph = await scanFolderGraph(root)
    expect([...graph.get('src/a')?.keys() ?? []].sort()).to.deep.equal(['src/b', 'src/errors.ts'])
    expect([...graph.get('simulations')?.keys() ?? []]).to.deep.equal(['protocols/p'])
    expect(graph.has('src/c')).to.equal(false)
    const search = findCycles(graph)
    expect(search.cycles).to.deep.equal([])
    expect(findTangles(graph)).to.deep.equal([])
    expect(formatCycles(graph, search)).to.deep.equal(['import scan: no folder cycles among src/*, protocols/*, simulations'])
  })

  it('stops listing at the limit and says so', async () => {
    await tree(root, {
      'src/a/x.ts': "import '../b/y.ts'\nimport '../c/z.ts'\n",
      'src/b/y.ts': "import '../a/x.ts'\nimport '../c/z.ts'\n",
      'src/c/z.ts': "import '../a/x.ts'\nimport '../b/y.ts'\n"
    })
    const graph = await scanFolderGraph(root)
    expect(findCycles(graph).cycles).to.have.length(5)
    const capped = findCycles(graph, 2)
    expect(capped.cycles).to.have.length(2)
    expect(capped.truncated).to.equal(true)
  })

  it('places files in units by root depth', () => {
    expect(unitOf('src/pki/ca/ca.ts', PROJECT_ROOTS)).to.equal('src/pki')
    expect(unitOf('src/errors.ts', PROJECT_ROOTS)).to.equal('src/errors.ts')
    expect(unitOf('protocols/auth/x.ts', PROJECT_ROOTS)).to.equal('protocols/auth')
    expect(unitOf('simulations/core/x.ts', PROJECT_ROOTS)).to.equal('simulations')
    expect(unitOf('test/pki/x.spec.ts', PROJECT_ROOTS)).to.equal(undefined)
    expect(unitOf('srcx/a.ts', PROJECT_ROOTS)).to.equal(undefined)
  })

  it('refuses a source file over the size limit (SOURCE_TOO_LARGE)', async () => {
    await tree(root, { 'src/a/big.ts': 'x'.repeat(MAX_SOURCE_BYTES + 1) })
    const err = await rejects(scanFolderGraph(root))
    expect(err.name).to.equal('SourceTooLargeError')
    expect(err.code).to.equal('SOURCE_TOO_LARGE')
  })
})
