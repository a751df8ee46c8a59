import { expect } from 'aegir/chai'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { MeshCa } from '../../src/ca/index.ts'
import { CaService } from '../../src/enrollment/ca-service.ts'
import { renewalTranscript } from '../../src/enrollment/renewal-proof.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { derToPem, pemToDerAll } from '../../src/util/pem.ts'
import { call, certCount, nodeKey, PASS, startService } from './harness.ts'
import type { Service } from './harness.ts'
import type { CaEvent } from '../../src/enrollment/ca-events.ts'

const DAY = 24 * 3600_000

type Key = Awaited<ReturnType<typeof nodeKey>>
interface Held { nodeId: string, key: Key, chainPem: string, serial: string, notAfter: number }

function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).to.equal(status)
  expect(r.json.error.code).to.equal(code)
}

const serialOf = (pem: string): string => parseCertificate(pemToDerAll(pem, 'CERTIFICATE')[0]).serialHex

/**
 * Renewal (`/v1/renew`) only for what it is for: a node whose newest certificate expired, once
 * per serial; and no certificate that has a successor (rotation or renewal) mints another one.
 * Each refusal is checked for its code and for the CA's certificate count staying put.
 */
describe('enrollment service: renewal and rotation only from the newest certificate, once', () => {
  let svc: Service
  const events: CaEvent[] = []
  before(async () => {
    svc = await startService({ service: { renewalWindowMs: 30 * DAY, events: { info: (e) => { events.push(e) } } } })
  })
  after(async () => { await svc.cleanup() })
  afterEach(() => { svc.clock.offsetMs = 0 })

  /** A node certificate issued straight by the CA, `validitySeconds` long (default 60 s). */
  async function issue (nodeId: string, validitySeconds = 60, key?: Key): Promise<Held> {
    const k = key ?? await nodeKey()
    const issued = await svc.ca.issue({ csr: await createCsr(k.handle, { nodeId, peerId: k.peerId }), now: svc.clock.now(), validitySeconds })
    return { nodeId, key: k, chainPem: issued.pem + issued.chainPem, serial: issued.serialHex, notAfter: issued.notAfter }
  }

  /** A renewal of `held` (its old key signs) for the new key `next` (fresh by default). */
  async function renew (target: Service, held: Held, next?: Key): Promise<{ status: number, json: any }> {
    const k = next ?? await nodeKey()
    const csrDer = await createCsr(k.handle, { nodeId: held.nodeId, peerId: held.key.peerId })
    const nonce = new Uint8Array(Buffer.from((await call(target, 'GET', '/v1/renew/nonce')).json.nonce, 'base64'))
    const proof = await held.key.handle.sign(renewalTranscript(nonce, csrDer))
    return call(target, 'POST', '/v1/renew', {
      certificate: held.chainPem,
      csr: derToPem(csrDer, 'CERTIFICATE REQUEST'),
      nonce: Buffer.from(nonce).toString('base64'),
      proof: Buffer.from(proof).toString('base64')
    })
  }

  /** A rotation over mutual TLS with `held` for the new key `next` (fresh by default). */
  async function rotate (held: Held, next?: Key): Promise<{ status: number, json: any }> {
    const k = next ?? await nodeKey()
    const csr = derToPem(await createCsr(k.handle, { nodeId: held.nodeId, peerId: held.key.peerId }), 'CERTIFICATE REQUEST')
    return call(svc, 'POST', '/v1/rotate', { csr, current_cert_serial: held.serial }, { client: { certPem: held.chainPem, keyPem: held.key.keyPem } })
  }

  const lastEvent = (kind: CaEvent['event']): CaEvent | undefined => events.filter(e => e.event === kind).at(-1)

  it('renewal from an unexpired certificate is 409 CERT_NOT_EXPIRED (it rotates at /v1/rotate) and issues nothing', async () => {
    const held = await issue('rule-unexpired', 3600)
    const before = await certCount(svc)
    expectError(await renew(svc, held), 409, 'CERT_NOT_EXPIRED')
    expect(await certCount(svc)).to.equal(before)
    expect(await svc.ca.store.supersededBy(held.serial)).to.equal(undefined)
    expect(lastEvent('renew-refused')).to.deep.equal({ event: 'renew-refused', code: 'CERT_NOT_EXPIRED', node_id: 'rule-unexpired', serial: held.serial })
    // Control: the same certificate rotates.
    expect((await rotate(held)).status).to.equal(200)
  })

  it('renewal from a certificate superseded by a rotation is 409 CERT_SUPERSEDED and issues nothing', async () => {
    const a = await issue('rule-rotated')
    const r = await rotate(a)
    expect(r.status, JSON.stringify(r.json)).to.equal(200)
    expect(lastEvent('rotate-accepted')).to.deep.equal({ event: 'rotate-accepted', node_id: 'rule-rotated', old_serial: a.serial, serial: r.json.serial })
    expect(await svc.ca.store.supersededBy(a.serial)).to.deep.include({ serialHex: a.serial, by: r.json.serial, via: 'rotate' })
    svc.clock.advance(10 * 60_000) // a expired, inside the window
    const before = await certCount(svc)
    expectError(await renew(svc, a), 409, 'CERT_SUPERSEDED')
    expect(await certCount(svc)).to.equal(before)
    expect(lastEvent('renew-refused')).to.deep.equal({ event: 'renew-refused', code: 'CERT_SUPERSEDED', node_id: 'rule-rotated', serial: a.serial })
  })

  it('a second renewal of an already-renewed serial is 409 ALREADY_RENEWED and issues nothing', async () => {
    const a = await issue('rule-twice')
    svc.clock.advance(DAY)
    const first = await renew(svc, a)
    expect(first.status, JSON.stringify(first.json)).to.equal(200)
    expect(lastEvent('renew-accepted')).to.deep.equal({ event: 'renew-accepted', node_id: 'rule-twice', old_serial: a.serial, serial: first.json.serial })
    const before = await certCount(svc)
    expectError(await renew(svc, a), 409, 'ALREADY_RENEWED')
    expect(await certCount(svc)).to.equal(before)
    expect(lastEvent('renew-refused')).to.deep.equal({ event: 'renew-refused', code: 'ALREADY_RENEWED', node_id: 'rule-twice', serial: a.serial })
  })

  it('two concurrent renewals of one serial: exactly one is issued, the other is ALREADY_RENEWED', async () => {
    const a = await issue('rule-race')
    svc.clock.advance(DAY)
    const before = await certCount(svc)
    const results = await Promise.all([renew(svc, a), renew(svc, a), renew(svc, a)])
    const ok = results.filter(r => r.status === 200)
    expect(ok, JSON.stringify(results.map(r => [r.status, r.json?.error?.code]))).to.have.length(1)
    for (const r of results.filter(r => r.status !== 200)) { expectError(r, 409, 'ALREADY_RENEWED') }
    expect(await certCount(svc)).to.equal(before + 1)
    expect(await svc.ca.store.supersededBy(a.serial)).to.deep.include({ by: ok[0].json.serial, via: 'renew' })
  })

  it('the same race on the service itself (no HTTP in between): one successor, the store refuses the rest', async () => {
    const a = await issue('rule-race-direct')
    svc.clock.advance(DAY)
    const before = await certCount(svc)
    const request = async (): Promise<unknown> => {
      const k = await nodeKey()
      const csrDer = await createCsr(k.handle, { nodeId: a.nodeId, peerId: a.key.peerId })
      const { nonce } = svc.service.issueRenewNonce(svc.clock.now())
      const proof = await a.key.handle.sign(renewalTranscript(nonce, csrDer))
      return { certificatePem: a.chainPem, csrPem: derToPem(csrDer, 'CERTIFICATE REQUEST'), nonce, proof }
    }
    const reqs = await Promise.all([request(), request(), request(), request()]) as any[]
    const settled = await Promise.allSettled(reqs.map(async r => svc.service.renew(r, svc.clock.now())))
    expect(settled.filter(s => s.status === 'fulfilled')).to.have.length(1)
    for (const s of settled) {
      if (s.status === 'rejected') { expect(s.reason).to.include({ name: 'EnrollmentError', code: 'ALREADY_RENEWED' }) }
    }
    expect(await certCount(svc)).to.equal(before + 1)
  })

  it('renewal of a certificate older than a later enrollment of its node_id is CERT_SUPERSEDED', async () => {
    const old = await issue('rule-older')
    svc.clock.advance(5 * 60_000)
    await issue('rule-older', 60) // a later certificate for the node_id, not a successor of `old`
    svc.clock.advance(DAY)
    const before = await certCount(svc)
    expectError(await renew(svc, old), 409, 'CERT_SUPERSEDED')
    expect(await certCount(svc)).to.equal(before)
  })

  it('rotation from a certificate already superseded by a rotation is 409 CERT_SUPERSEDED and issues nothing', async () => {
    const a = await issue('rule-rot2', 3600)
    const bKey = await nodeKey()
    const b = await rotate(a, bKey)
    expect(b.status).to.equal(200)
    const before = await certCount(svc)
    expectError(await rotate(a), 409, 'CERT_SUPERSEDED')
    expect(await certCount(svc)).to.equal(before)
    expect(lastEvent('rotate-refused')).to.deep.equal({ event: 'rotate-refused', code: 'CERT_SUPERSEDED', node_id: 'rule-rot2', serial: a.serial })
    // Control: the successor is the newest, and it rotates.
    const bHeld: Held = { nodeId: a.nodeId, key: { ...bKey, peerId: a.key.peerId }, chainPem: b.json.certificate + b.json.chain, serial: b.json.serial, notAfter: 0 }
    expect((await rotate(bHeld)).status).to.equal(200)
  })

  it('a retried rotation (same old certificate, same pending key) gets its successor again and mints nothing', async () => {
    const a = await issue('rule-retry', 3600)
    const pending = await nodeKey()
    const first = await rotate(a, pending)
    expect(first.status).to.equal(200)
    const before = await certCount(svc)
    const again = await rotate(a, pending)
    expect(again.status, JSON.stringify(again.json)).to.equal(200)
    expect(again.json.serial).to.equal(first.json.serial)
    expect(serialOf(again.json.certificate)).to.equal(first.json.serial)
    expect(await certCount(svc)).to.equal(before)
    expect(lastEvent('rotate-accepted')).to.deep.equal({ event: 'rotate-accepted', node_id: 'rule-retry', old_serial: a.serial, serial: first.json.serial, replayed: true })
  })

  it('a retried renewal with the same new key gets its successor again; with another key it is ALREADY_RENEWED', async () => {
    const a = await issue('rule-renew-retry')
    svc.clock.advance(DAY)
    const pending = await nodeKey()
    const first = await renew(svc, a, pending)
    expect(first.status).to.equal(200)
    const before = await certCount(svc)
    const again = await renew(svc, a, pending)
    expect(again.status, JSON.stringify(again.json)).to.equal(200)
    expect(again.json.serial).to.equal(first.json.serial)
    expectError(await renew(svc, a), 409, 'ALREADY_RENEWED')
    expect(await certCount(svc)).to.equal(before)
  })

  it('"renewed once" survives a restart: the reopened CA still refuses the serial (ALREADY_RENEWED)', async () => {
    const first = await startService({ service: { renewalWindowMs: 30 * DAY } })
    let second: Service | undefined
    try {
      const key = await nodeKey()
      const issued = await first.ca.issue({ csr: await createCsr(key.handle, { nodeId: 'rule-restart', peerId: key.peerId }), now: first.clock.now(), validitySeconds: 60 })
      const a: Held = { nodeId: 'rule-restart', key, chainPem: issued.pem + issued.chainPem, serial: issued.serialHex, notAfter: issued.notAfter }
      first.clock.advance(DAY)
      expect((await renew(first, a)).status).to.equal(200)
      await first.stop()
      // The new server's TLS certificate is issued at the test clock and checked by the client
      // against the real one: start at the real time, then move on past the expiry again.
      first.clock.offsetMs = 0
      second = await startService({ dir: first.dir, clock: first.clock, service: { renewalWindowMs: 30 * DAY } })
      second.clock.advance(DAY)
      const before = await certCount(second)
      expectError(await renew(second, a), 409, 'ALREADY_RENEWED')
      expect(await certCount(second)).to.equal(before)
    } finally {
      await second?.stop()
      await first.cleanup()
    }
  })
})

describe('CA store: one successor per serial, atomically', () => {
  it('of concurrent issuances superseding one serial, exactly one is stored', async () => {
    const svc = await startService()
    try {
      const key = await nodeKey()
      const old = await svc.ca.issue({ csr: await createCsr(key.handle, { nodeId: 'store-race', peerId: key.peerId }), now: svc.clock.now() })
      const before = await svc.ca.store.countCerts()
      const attempt = async (): Promise<unknown> => {
        const k = await nodeKey()
        return svc.ca.issue({ csr: await createCsr(k.handle, { nodeId: 'store-race', peerId: key.peerId }), now: svc.clock.now(), supersedes: { serialHex: old.serialHex, via: 'renew' } })
      }
      const settled = await Promise.allSettled([attempt(), attempt(), attempt()])
      expect(settled.filter(s => s.status === 'fulfilled')).to.have.length(1)
      for (const s of settled) {
        if (s.status === 'rejected') { expect(s.reason).to.include({ name: 'StoreError', code: 'ALREADY_SUPERSEDED' }) }
      }
      expect(await svc.ca.store.countCerts()).to.equal(before + 1)
    } finally {
      await svc.cleanup()
    }
  })

  it('the successor record is in the LevelDB after reopening the CA', async () => {
    const svc = await startService()
    try {
      const key = await nodeKey()
      const old = await svc.ca.issue({ csr: await createCsr(key.handle, { nodeId: 'store-durable', peerId: key.peerId }), now: svc.clock.now() })
      const next = await svc.ca.issue({ csr: await createCsr((await nodeKey()).handle, { nodeId: 'store-durable', peerId: key.peerId }), now: svc.clock.now(), supersedes: { serialHex: old.serialHex, via: 'rotate' } })
      await svc.stop()
      const ca = await MeshCa.open({ dir: svc.dir, passphrase: PASS })
      const service = await CaService.wrap(ca)
      try {
        expect(await ca.store.supersededBy(old.serialHex)).to.deep.include({ serialHex: old.serialHex, by: next.serialHex, via: 'rotate' })
      } finally {
        await service.close()
      }
    } finally {
      await svc.cleanup()
    }
  })
})
