import { createServer } from 'node:https'
import { expect } from 'aegir/chai'
import { MemoryLevel } from 'memory-level'
import { fetchCrl } from '../../../src/daemon/runtime/crl-fetch.ts'
import { CrlManager } from '../../../src/daemon/runtime/crl-manager.ts'
import { CrlPoller } from '../../../src/daemon/runtime/crl-poller.ts'
import { issueServerTls, serverNames } from '../../../src/enrollment/server-cert.ts'
import { ChainVerifier } from '../../../src/pki/chain-verifier.ts'
import { parseCrl } from '../../../src/pki/crl.ts'
import { CrlStateStore } from '../../../src/store/crl-state.ts'
import { wrapStore } from '../../../src/store/mesh-store.ts'
import { nodeCsr, startService } from '../../enrollment/harness.ts'
import { createTestCa } from '../../node/fixtures.ts'
import type { CrlEvent } from '../../../src/daemon/runtime/crl-manager.ts'
import type { CrlPollOutcome } from '../../../src/daemon/runtime/crl-poller.ts'
import type { MeshStore } from '../../../src/store/mesh-store.ts'
import type { Service } from '../../enrollment/harness.ts'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/**
 * The CRL poll against the real enrollment service: conditional GET with the ETag, install of
 * newer CA-signed CRLs only, persistence across a restart, and the failure side (deadline, body
 * limit, HTTP errors, a server outside the mesh PKI, back-off, stop during a request).
 */
describe('CRL poller and CRL state', function () {
  let svc: Service
  let crlUrl: string
  let store: MeshStore
  const servers: Server[] = []

  before(async () => {
    svc = await startService()
    crlUrl = `${svc.url}/v1/crl`
    store = wrapStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'json' }) as any)
  })
  after(async () => {
    for (const s of servers) { s.closeAllConnections(); s.close() }
    await store.close()
    await svc.cleanup()
  })

  const manager = (): CrlManager => new CrlManager({
    verifier: new ChainVerifier({ roots: [svc.ca.rootCertificate], intermediates: [svc.ca.issuingCertificate] }),
    store: new CrlStateStore(store),
    caCertificates: [svc.ca.rootCertificate, svc.ca.issuingCertificate],
    now: Date.now
  })

  /** An HTTPS server with a certificate of the mesh CA (so only its behaviour differs). */
  async function serve (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const tls = await issueServerTls(svc.ca, serverNames('127.0.0.1'), new Date())
    const server = createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.3' }, handler)
    servers.push(server)
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    return `https://127.0.0.1:${(server.address() as { port: number }).port}/v1/crl`
  }

  it('installs the first CRL, then asks with If-None-Match and gets 304; a revocation comes in as a newer CRL', async () => {
    const m = manager()
    const events: CrlEvent[] = []
    m.onCrl(e => { events.push(e) })
    const poller = new CrlPoller({ url: crlUrl, caPem: svc.rootPem, manager: m })
    const first = await poller.pollOnce()
    expect(first.status).to.equal('installed')
    expect(m.etagFor(crlUrl)).to.match(/^"[A-Za-z0-9_-]+"$/)
    expect((await poller.pollOnce()).status).to.equal('not-modified')

    // 1. Revoke a node at the CA: the next poll brings a higher number that lists it.
    const issued = await svc.ca.issue({ csr: (await nodeCsr('to-revoke')).csrPem, now: new Date(), nodeId: 'to-revoke' })
    await svc.service.revoke({ serialHex: issued.serialHex }, new Date())
    const next = await poller.pollOnce() as Extract<CrlPollOutcome, { status: 'installed' }>
    expect(next.status).to.equal('installed')
    expect(next.event.newlyRevoked).to.deep.equal([issued.serialHex])
    expect(next.event.previousNumber).to.equal((first as Extract<CrlPollOutcome, { status: 'installed' }>).event.crlNumber)
    expect(events.map(e => e.source)).to.deep.equal(['fetch', 'fetch'])

    // 2. The stored state survives a restart: a fresh manager loads it, and its first poll is a 304.
    const again = manager()
    expect((await again.loadPersisted()).loaded).to.equal(1)
    expect(again.newestNumber).to.equal(next.event.crlNumber)
    expect(again.etagFor(crlUrl)).to.equal(m.etagFor(crlUrl))
    expect((await new CrlPoller({ url: crlUrl, caPem: svc.rootPem, manager: again }).pollOnce()).status).to.equal('not-modified')
  })

  it('never goes back: an older number is stale, the same number unchanged, another CA\'s CRL refused', async () => {
    const m = manager()
    const older = (await svc.ca.currentCrl(new Date())).der
    await svc.ca.buildCrl(new Date())
    const newer = (await svc.ca.currentCrl(new Date())).der
    expect((await m.offer(newer, { source: 'push' })).status).to.equal('installed')
    expect((await m.offer(older, { source: 'gossip' })).status).to.equal('stale')
    expect((await m.offer(newer, { source: 'gossip' })).status).to.equal('unchanged')
    const foreign = await createTestCa('foreign')
    try {
      const crl = await foreign.ca.buildCrl(new Date())
      await expect(m.offer(crl.der, { source: 'push' })).to.eventually.be.rejected.with.property('name', 'ChainValidationError')
      await expect(m.offer(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), { source: 'push' })).to.eventually.be.rejected.with.property('code', 'CRL_INVALID')
    } finally {
      await foreign.close()
    }
    expect(m.newestNumber).to.equal(parseCrl(newer).crlNumber)
  })

  it('fetch failures are named: deadline, body limit, HTTP status, a server outside the mesh PKI', async () => {
    const hang = await serve(() => {})
    const t0 = Date.now()
    await expect(fetchCrl(hang, { caPem: svc.rootPem, timeoutMs: 300, maxBytes: 1024 })).to.eventually.be.rejected.with.property('code', 'UNREACHABLE')
    expect(Date.now() - t0).to.be.lessThan(3_000)
    const big = await serve((_q, res) => { res.end(Buffer.alloc(64 * 1024, 0x30)) })
    await expect(fetchCrl(big, { caPem: svc.rootPem, timeoutMs: 5_000, maxBytes: 16 * 1024 })).to.eventually.be.rejected.with.property('code', 'UNREACHABLE')
    const broken = await serve((_q, res) => { res.statusCode = 500; res.end('no') })
    await expect(fetchCrl(broken, { caPem: svc.rootPem, timeoutMs: 5_000, maxBytes: 1024 })).to.eventually.be.rejected.with.property('code', 'HTTP_STATUS')
    const foreign = await createTestCa('foreign-tls')
    try {
      await expect(fetchCrl(crlUrl, { caPem: foreign.ca.rootPem, timeoutMs: 5_000, maxBytes: 1024 })).to.eventually.be.rejected.with.property('code', 'UNREACHABLE')
    } finally {
      await foreign.close()
    }
  })

  it('backs off exponentially while the CA is unreachable, and stop() aborts a request in flight', async () => {
    const dead = await serve((req) => { req.socket.destroy() })
    const reports: Array<{ failures: number, nextInMs: number, code?: string }> = []
    const done = new Promise<void>(resolve => {
      const poller = new CrlPoller({
        url: dead,
        caPem: svc.rootPem,
        manager: manager(),
        random: () => 0.5,
        options: { backoffInitialMs: 20, backoffMaxMs: 80, timeoutMs: 2_000 },
        onPoll: r => {
          reports.push({ failures: r.failures, nextInMs: r.nextInMs, code: (r.error as any)?.code })
          if (reports.length === 4) { void poller.stop().then(resolve) }
        }
      })
      poller.start()
    })
    await done
    expect(reports).to.deep.equal([20, 40, 80, 80].map((nextInMs, i) => ({ failures: i + 1, nextInMs, code: 'UNREACHABLE' })))

    let arrived: () => void = () => {}
    const requested = new Promise<void>(resolve => { arrived = resolve })
    const hang = await serve(() => { arrived() })
    const poller = new CrlPoller({ url: hang, caPem: svc.rootPem, manager: manager(), options: { timeoutMs: 60_000 } })
    poller.start()
    await requested
    const t0 = Date.now()
    await poller.stop()
    expect(Date.now() - t0).to.be.lessThan(1_000)
  })
})
