import { expect } from 'aegir/chai'
import { parseCrl } from '../../src/pki/crl.ts'
import { call, enrollVia, nodeCsr, startService } from './harness.ts'
import type { Service } from './harness.ts'

describe('enrollment service: the CA survives a restart', () => {
  it('tokens, serials, certificates and revocations are all still there after stop + start', async () => {
    // 1. First run: two tokens, three enrollments, one revocation.
    const first = await startService()
    const dir = first.dir
    let second: Service | undefined
    try {
      const twoUses = (await first.service.createToken({ ttlMs: 3600_000, uses: 2 }, first.clock.now())).token
      const oneUse = (await first.service.createToken({ ttlMs: 3600_000, uses: 1 }, first.clock.now())).token
      const unused = (await first.service.createToken({ ttlMs: 3600_000, uses: 1, nodeId: 'later' }, first.clock.now())).token
      const keep = await enrollVia(first, 'keep')
      const goneCsr = await nodeCsr('gone')
      const r1 = await call(first, 'POST', '/v1/enroll', { token: twoUses, csr: goneCsr.csrPem })
      expect(r1.status).to.equal(200)
      const gone = { certPem: r1.json.certificate + r1.json.chain, keyPem: goneCsr.keyPem, serial: r1.json.serial }
      expect((await call(first, 'POST', '/v1/enroll', { token: oneUse, csr: (await nodeCsr('once')).csrPem })).status).to.equal(200)
      await first.service.revoke({ serialHex: gone.serial, reason: 'keyCompromise' }, first.clock.now())
      const crlBefore = parseCrl((await first.service.crl(first.clock.now())).der)
      const countBefore = await first.ca.store.countCerts()

      // 2. Stop everything (servers, CA, LevelDB) and start again on the same directory.
      await first.stop()
      second = await startService({ dir, clock: first.clock })

      // 3. Certificates and serials: all there (the new run only added its own server cert).
      expect(await second.ca.store.countCerts()).to.equal(countBefore + 1)
      expect((await second.ca.getCertificate(keep.serial))?.nodeId).to.equal('keep')
      expect((await second.ca.certificatesOf('gone')).map(c => c.serialHex)).to.deep.equal([gone.serial])

      // 4. Revocations: still revoked, still on the CRL, CRL numbers still rising.
      expect((await second.ca.store.getRevocation(gone.serial))?.reason).to.equal('keyCompromise')
      const crlAfter = parseCrl(new Uint8Array((await call(second, 'GET', '/v1/crl')).body))
      expect(crlAfter.revoked.has(gone.serial)).to.equal(true)
      expect((crlAfter.crlNumber ?? 0n) >= (crlBefore.crlNumber ?? 0n)).to.equal(true)

      // 5. Tokens: the spent one is still spent, the half-used one has exactly one use left,
      // the unused one still works (and still only for its node_id).
      const spent = await call(second, 'POST', '/v1/enroll', { token: oneUse, csr: (await nodeCsr('once-again')).csrPem })
      expect(spent.status).to.equal(401)
      expect(spent.json.error.code).to.equal('TOKEN_REJECTED')
      expect((await call(second, 'POST', '/v1/enroll', { token: twoUses, csr: (await nodeCsr('second-use')).csrPem })).status).to.equal(200)
      expect((await call(second, 'POST', '/v1/enroll', { token: twoUses, csr: (await nodeCsr('third-use')).csrPem })).status).to.equal(401)
      expect((await call(second, 'POST', '/v1/enroll', { token: unused, csr: (await nodeCsr('intruder')).csrPem })).status).to.equal(403)
      expect((await call(second, 'POST', '/v1/enroll', { token: unused, csr: (await nodeCsr('later')).csrPem })).status).to.equal(200)

      // 6. Mutual TLS against the restarted service: the kept cert rotates, the revoked one is 401.
      expect((await call(second, 'POST', '/v1/rotate', { csr: (await nodeCsr('keep')).csrPem, current_cert_serial: keep.serial }, { client: keep })).status).to.equal(200)
      const revoked = await call(second, 'POST', '/v1/rotate', { csr: (await nodeCsr('gone')).csrPem, current_cert_serial: gone.serial }, { client: gone })
      expect(revoked.status).to.equal(401)
      expect(revoked.json.error.code).to.equal('CLIENT_CERT_INVALID')
    } finally {
      await first.stop()
      await second?.cleanup()
      if (second == null) { await first.cleanup() }
    }
  })

  it('a revoked node stays blocked across a restart until cleared', async () => {
    const first = await startService()
    let second: Service | undefined
    try {
      await enrollVia(first, 'blocked')
      await first.service.revoke({ nodeId: 'blocked' }, first.clock.now())
      await first.stop()
      second = await startService({ dir: first.dir, clock: first.clock })
      const { token } = await second.service.createToken({ ttlMs: 60_000, uses: 1 }, second.clock.now())
      const r = await call(second, 'POST', '/v1/enroll', { token, csr: (await nodeCsr('blocked')).csrPem })
      expect(r.status).to.equal(403)
      expect(r.json.error.code).to.equal('NODE_REVOKED')
    } finally {
      await second?.cleanup()
      if (second == null) { await first.cleanup() }
    }
  })

  it('stops gracefully: a request in flight completes, new requests are refused', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    let entered: () => void = () => {}
    const inside = new Promise<void>(resolve => { entered = resolve })
    const svc = await startService({ service: { attestation: { verify: async () => { entered(); await gate; return { result: 'none' } } } } })
    try {
      const { token } = await svc.service.createToken({ ttlMs: 60_000, uses: 1 }, svc.clock.now())
      const pending = call(svc, 'POST', '/v1/enroll', { token, csr: (await nodeCsr('inflight')).csrPem })
      await inside
      const closing = svc.server.close()
      release()
      const r = await pending
      expect(r.status).to.equal(200)
      await closing
      const after = await call(svc, 'GET', '/v1/crl').catch(err => err)
      expect(after).to.be.instanceOf(Error)
      expect(after.code).to.equal('ECONNREFUSED')
    } finally {
      await svc.cleanup()
    }
  })
})
