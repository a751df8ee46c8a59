import { connect } from 'node:net'
import { expect } from 'aegir/chai'
import { Counter, Registry } from 'prom-client'
import { readinessReport, startOpsServer } from '../../src/metrics/index.ts'
import type { OpsServer, ReadinessReport } from '../../src/metrics/index.ts'
import type { Socket } from 'node:net'

/**
 * The metrics and health listener over real HTTP on loopback: what it serves, what it refuses,
 * and its bounds (a port clash is one typed error; one source cannot hold every connection).
 */
describe('metrics and health listener', function () {
  let server: OpsServer | undefined
  let registry: Registry
  let report: ReadinessReport
  const sockets: Socket[] = []

  beforeEach(async () => {
    registry = new Registry()
    new Counter({ name: 'dadm_mesh_test_total', help: 'a test counter', registers: [registry] }).inc(3)
    report = readinessReport([{ name: 'members', ok: true, detail: '1 authenticated member(s), 1 needed' }])
    server = await startOpsServer({ registry, readiness: () => report }, { host: '127.0.0.1', port: 0 })
  })
  afterEach(async () => {
    for (const s of sockets.splice(0)) { s.destroy() }
    await server?.close()
  })

  it('serves /metrics in the Prometheus text format, /livez, and /readyz as 200 or 503 with the checks', async () => {
    const m = await fetch(`${server?.url}/metrics`)
    expect(m.status).to.equal(200)
    expect(m.headers.get('content-type')).to.include('text/plain')
    expect(await m.text()).to.include('dadm_mesh_test_total 3')
    const live = await fetch(`${server?.url}/livez`)
    expect(live.status).to.equal(200)
    const ready = await fetch(`${server?.url}/readyz`)
    expect(ready.status).to.equal(200)
    expect(await ready.json()).to.deep.equal({ ready: true, checks: [{ name: 'members', ok: true, detail: '1 authenticated member(s), 1 needed' }] })
    // 2. A failing check turns /readyz to 503, naming the check; /livez stays 200.
    report = readinessReport([{ name: 'crl', ok: false, detail: 'no CRL installed yet' }])
    const notReady = await fetch(`${server?.url}/readyz`)
    expect(notReady.status).to.equal(503)
    expect(await notReady.json()).to.deep.equal({ ready: false, checks: [{ name: 'crl', ok: false, detail: 'no CRL installed yet' }] })
    expect((await fetch(`${server?.url}/livez`)).status).to.equal(200)
  })

  it('answers 404 to any other path and 405 to any other method, serving nothing', async () => {
    const other = await fetch(`${server?.url}/v1/node`)
    expect(other.status).to.equal(404)
    expect(await other.text()).to.not.include('dadm_mesh_test_total')
    const post = await fetch(`${server?.url}/metrics`, { method: 'POST', body: 'x'.repeat(1024) })
    expect(post.status).to.equal(405)
    expect(post.headers.get('allow')).to.equal('GET, HEAD')
    expect(await post.text()).to.not.include('dadm_mesh_test_total')
  })

  it('a port already taken is MetricsError LISTEN_FAILED naming the address, and nothing listens', async () => {
    const port = server?.port as number
    const err = await startOpsServer({ registry, readiness: () => report }, { host: '127.0.0.1', port }).then(() => undefined, (e: any) => e)
    expect(err).to.have.property('name', 'MetricsError')
    expect(err).to.have.property('code', 'LISTEN_FAILED')
    expect(err.message).to.include(`127.0.0.1:${port}`)
    expect(err.message).to.include('EADDRINUSE')
  })

  it('one source holds at most maxConnectionsPerSource connections; the next is closed at once', async () => {
    await server?.close()
    server = await startOpsServer({ registry, readiness: () => report, limits: { maxConnectionsPerSource: 2 } }, { host: '127.0.0.1', port: 0 })
    const open = async (): Promise<Socket> => {
      const s = connect(server?.port as number, '127.0.0.1')
      sockets.push(s)
      await new Promise<void>((resolve, reject) => { s.once('connect', () => { resolve() }); s.once('error', reject) })
      return s
    }
    const a = await open()
    const b = await open()
    const c = await open()
    // 1. The third is closed by the server without an answer.
    const closed = await new Promise<boolean>(resolve => {
      const timer = setTimeout(() => { resolve(false) }, 5_000)
      c.once('close', () => { clearTimeout(timer); resolve(true) })
      c.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
    })
    expect(closed).to.equal(true)
    // 2. The two held ones are still served.
    const answer = await new Promise<string>((resolve) => {
      let got = ''
      a.on('data', (d: Buffer) => { got += d.toString(); if (got.includes('dadm_mesh_test_total 3')) { resolve(got) } })
      a.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
    })
    expect(answer).to.include('200 OK')
    expect(b.destroyed).to.equal(false)
  })
})
