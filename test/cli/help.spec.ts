import { readFile } from 'node:fs/promises'
import { expect } from 'aegir/chai'
import { REVOCATION_REASONS } from '../../src/ca/index.ts'
import { COMMANDS } from '../../src/cli/main.ts'
import { REVOCATION_REASON_NAMES } from '../../src/cli/specs/ca-revoke.ts'
import { runMain } from './run-main.ts'
import type { CliRun } from './run-main.ts'

async function run (argv: string[]): Promise<CliRun> {
  // No passphrase in the environment: nothing these tests run may get as far as a key.
  return runMain(argv, {})
}

/** The option names a help text lists in its "options:" section. */
function listedOptions (help: string): string[] {
  const section = help.split('\noptions:\n')[1]?.split('\n\n')[0] ?? ''
  return section.split('\n').map(l => /^ {2}(?:-\w, )?--([a-z0-9-]+)/.exec(l)?.[1]).filter((n): n is string => n != null)
}

const NAMES = Object.keys(COMMANDS).filter(n => COMMANDS[n].ownHelp !== true)

describe('cli help', () => {
  it('--help lists every command with its summary and exits 0; no arguments exits 2', async () => {
    const r = await run(['--help'])
    expect(r.code).to.equal(0)
    for (const name of Object.keys(COMMANDS)) { expect(r.stdout).to.include(`  dadm-mesh ${name} `) }
    expect(r.stdout).to.include('--version')
    const none = await run([])
    expect(none.code).to.equal(2)
    expect(none.stderr).to.include('ca init')
  })

  it('--version prints the version in package.json', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    const r = await run(['--version'])
    expect(r.code).to.equal(0)
    expect(r.stdout).to.equal(`dadm-mesh ${pkg.version} (node ${process.version})\n`)
  })

  for (const name of NAMES) {
    describe(name, () => {
      const spec = COMMANDS[name].spec

      it('--help and -h exit 0 with usage, every option (described, with its default), examples and exit codes', async () => {
        for (const flag of ['--help', '-h']) {
          const r = await run([...name.split(' '), flag])
          expect(r.code, r.stderr).to.equal(0)
          expect(r.stdout).to.match(new RegExp(`^usage: dadm-mesh ${name} `))
          // The help lists exactly the parser's table, plus --help itself.
          expect(listedOptions(r.stdout).sort()).to.deep.equal([...Object.keys(spec.options), 'help'].sort())
          for (const [opt, o] of Object.entries(spec.options)) {
            const line = r.stdout.split('\n').find(l => new RegExp(`^ {2}(?:-\\w, )?--${opt}\\b`).test(l)) as string
            expect(o.help.length, `--${opt} has a description`).to.be.greaterThan(5)
            if (typeof o.default === 'string' && o.required !== true) { expect(r.stdout, `--${opt} shows its default`).to.include(`default: ${o.default}`) }
            if (o.shownDefault != null) { expect(r.stdout).to.include(`default: ${o.shownDefault}`) }
            expect(line, `--${opt} is listed`).to.be.a('string')
          }
          const examples = r.stdout.split('\nexamples:\n')[1]?.split('\n\n')[0].split('\n') ?? []
          expect(examples.length).to.be.within(1, 3)
          for (const e of examples) { expect(e).to.match(new RegExp(`dadm-mesh ${name}( |$)`)) }
          expect(r.stdout).to.match(/\nexit codes:\n {2}0 {2}success\n {2}1 {2}.+\n {2}2 {2}bad command line/)
        }
      })

      it('the parser accepts every option the help lists and refuses any other (exit 2, naming it)', async () => {
        for (const [opt, o] of Object.entries(spec.options)) {
          // parseArgs reads left to right: an option it does not know is refused before the next one.
          const r = await run([...name.split(' '), `--${opt}`, ...(o.type === 'string' ? ['x'] : []), '--zz-not-an-option'])
          expect(r.code, `${name} --${opt}: ${r.stderr}`).to.equal(2)
          expect(r.stderr, `${name} accepts --${opt}`).to.include("'--zz-not-an-option'")
          expect(r.stderr).to.include(`usage: dadm-mesh ${name}`)
        }
      })
    })
  }

  it('sim answers --help itself (its own parser) with exit 0', async () => {
    const r = await run(['sim', '--help'])
    expect(r.code).to.equal(0)
    expect(r.stdout).to.include('usage:')
  })

  it('a required option left out is a usage error naming it, before the command runs', async () => {
    const r = await run(['ca', 'token'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.include('error: --dir is required')
    expect(r.stderr).to.include('dadm-mesh ca token --help')
  })

  it('the revocation reasons in `ca revoke --help` are the CA\'s', () => {
    expect(REVOCATION_REASON_NAMES).to.equal(Object.keys(REVOCATION_REASONS).join(', '))
  })
})
