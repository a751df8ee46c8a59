import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'

const DEMO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'demo.ts')

/**
 * `npm start`: the local demo forms a five-node QUIC mesh from HTTP enrollment and prints every
 * link authenticated; then an anomaly signature reaches every node and a revoked node is cut off.
 */
describe('npm start: the local mesh demo', function () {
  it('enrolls five nodes over HTTP, prints their peer tables, 20/20 links authenticated, exits 0', async () => {
    const child = spawn(process.execPath, [DEMO], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`demo did not finish in 90 s: ${out}${err}`)) }, 90_000)
      child.once('exit', c => { clearTimeout(timer); resolve(c) })
    })
    expect(code, err).to.equal(0)
    expect(out).to.include('20/20 links authenticated over QUIC')
    expect(out.match(/^ {2}node-\d .* authenticated {2}quic /gm)).to.have.length(20)
    expect(out).to.include('anomaly signature arrived on 4/4 other nodes')
    expect(out).to.match(/node-5 revoked: cut off by 5\/5 nodes .* \d+ ms after the request/)
    // a bundle for a node that is offline, delivered once when it starts
    expect(out).to.match(/bundle delivered to node-6 \d+ ms after it started, exactly once/)
  })
})
