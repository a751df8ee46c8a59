import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { expect } from 'aegir/chai'
import { isQuicLateRejection } from '../../src/node/quic-late-rejection.ts'

const GUARD = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'node', 'quic-late-rejection.ts')).href

/** Runs a child that installs the guard and then rejects a promise nobody handles; returns its exit code and stderr. */
async function childWith (rejection: string): Promise<{ code: number | null, stderr: string, stdout: string }> {
  const script = `
    const { installQuicRejectionGuard } = await import(${JSON.stringify(GUARD)})
    installQuicRejectionGuard({ onLate: (e) => { process.stdout.write('absorbed ' + e.message + '\\n') } })
    void Promise.reject(${rejection})
    setTimeout(() => { process.stdout.write('still running\\n') }, 100)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('child did not exit in 10 s')) }, 10_000)
    child.once('exit', c => { clearTimeout(timer); resolve(c) })
  })
  return { code, stderr, stdout }
}

describe('node: late rejections of native QUIC stream calls', () => {
  it('tells the native binding\'s error (code Unknown) from any other', () => {
    expect(isQuicLateRejection(Object.assign(new Error('closed'), { code: 'Unknown' }))).to.equal(true)
    expect(isQuicLateRejection(new Error('closed'))).to.equal(false)
    expect(isQuicLateRejection(Object.assign(new Error('x'), { code: 'ERR_STREAM_RESET' }))).to.equal(false)
    expect(isQuicLateRejection({ code: 'Unknown', message: 'closed' })).to.equal(false)
    expect(isQuicLateRejection(undefined)).to.equal(false)
  })

  it('a process with the guard lives through a late QUIC rejection and counts it', async () => {
    const r = await childWith("Object.assign(new Error('closed'), { code: 'Unknown' })")
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout).to.include('absorbed closed')
    expect(r.stdout).to.include('still running')
  })

  it('any other unhandled rejection still ends the process with the error printed', async () => {
    const r = await childWith("new Error('a real bug')")
    expect(r.code).to.not.equal(0)
    expect(r.stderr).to.include('a real bug')
    expect(r.stdout).to.not.include('still running')
  })

  it('the cause is still there: @chainsafe/libp2p-quic fires its native reset calls and forgets them', async () => {
    // When this fails the library handles those promises itself: remove the guard and this file.
    const index = fileURLToPath(import.meta.resolve('@chainsafe/libp2p-quic'))
    const stream = await readFile(join(dirname(index), 'stream.js'), 'utf8')
    expect(stream).to.match(/sendReset\([^)]*\)\s*\{\s*void this\.#stream\.resetWrite\(\);\s*void this\.#stream\.stopRead\(\);/)
  })
})
