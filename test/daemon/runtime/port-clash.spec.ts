import { createSocket } from 'node:dgram'
import { expect } from 'aegir/chai'
import { createTestMesh, runChild } from './harness.ts'
import type { TestMesh } from './harness.ts'
import type { Socket } from 'node:dgram'

/**
 * A QUIC port another process holds: `node start` fails with one line naming the address and the
 * reason (LISTEN_FAILED), exit 1, without libp2p's stack traces, and leaves no run.json behind.
 */
describe('node start on a UDP port another process holds', function () {
  this.timeout(120_000)
  let mesh: TestMesh
  let holder: Socket
  let port: number
  before(async () => {
    mesh = await createTestMesh('port-clash')
    holder = createSocket('udp4')
    await new Promise<void>(resolve => { holder.bind(0, '127.0.0.1', () => { resolve() }) })
    port = holder.address().port
  })
  after(async () => {
    holder.close()
    await mesh.cleanup()
  })

  it('port-clash-one-line: exit 1 with "error: LISTEN_FAILED: cannot listen on ADDR: Address already in use", no stack trace', async () => {
    const dir = await mesh.enroll('clash')
    const addr = `/ip4/127.0.0.1/udp/${port}/quic-v1`
    const r = await runChild(['node', 'start', '--dir', dir, '--listen', addr, '--no-tcp', '--no-mdns', '--no-api'], 90_000)
    expect(r.code, r.stderr).to.equal(1)
    const lines = r.stderr.split('\n').filter(l => l !== '' && !l.includes('ExperimentalWarning') && !l.includes('--trace-warnings'))
    expect(lines, r.stderr).to.have.length(1)
    expect(lines[0]).to.match(new RegExp(`^error: LISTEN_FAILED: cannot listen on ${addr.replace(/\//g, '\\/')}: Address already in use`))
    expect(r.stderr).to.not.match(/\n\s+at /)
    expect(r.stderr).to.not.include('listening on')
  })
})
