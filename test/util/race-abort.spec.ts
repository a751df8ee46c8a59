import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { expect } from 'aegir/chai'
import { raceAbort } from '../../src/util/race-abort.ts'

const MODULE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'util', 'race-abort.ts')).href

describe('util: raceAbort', () => {
  it('settles with the promise, or with the signal\'s reason as soon as it aborts', async () => {
    expect(await raceAbort(Promise.resolve(7), new AbortController().signal)).to.equal(7)
    const c = new AbortController()
    const pending = raceAbort(new Promise<never>(() => {}), c.signal)
    c.abort(new Error('gone'))
    await expect(pending).to.be.rejectedWith('gone')
  })

  it('an already aborted signal leaves no unhandled rejection behind when the promise rejects later', async () => {
    // In a child process: an unhandled rejection there ends it with a non-zero code, as in a node.
    const script = `
      const { raceAbort } = await import(${JSON.stringify(MODULE)})
      const c = new AbortController(); c.abort(new Error('dial timed out'))
      let reject; const late = new Promise((_, r) => { reject = r })
      await raceAbort(late, c.signal).catch(() => {})
      reject(new Error('muxer closed'))
      setTimeout(() => { process.stdout.write('alive\\n') }, 50)
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => { out += b.toString() })
    child.stderr.on('data', (b: Buffer) => { err += b.toString() })
    const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
    expect(code, err).to.equal(0)
    expect(out).to.equal('alive\n')
  })
})
