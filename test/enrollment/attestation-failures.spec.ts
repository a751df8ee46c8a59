import { expect } from 'aegir/chai'
import { parseCrl } from '../../src/pki/crl.ts'
import { adminCred, call, enrollVia, startService } from './harness.ts'
import type { Service } from './harness.ts'

function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).to.equal(status)
  expect(r.json.error.code).to.equal(code)
}

const revokedSerials = async (svc: Service): Promise<string[]> => [...parseCrl(new Uint8Array((await call(svc, 'GET', '/v1/crl')).body)).revoked.keys()]
const reports = async (svc: Service): Promise<Array<Record<string, unknown>>> => (await svc.ca.store.auditLog({ limit: 1000 })).filter(e => e.action === 'attestation-failure-report').map(e => e.fields as Record<string, unknown>)

/**
 * `POST /v1/attestation-failures` over real HTTPS with mutual TLS: a node reports a peer's failed
 * attestation. Off by default (reports are only audited); with ca.json
 * `attestation.revoke_on_reported_failure`, DISTINCT reporters of a device-failure code revoke.
 */
describe('enrollment service: POST /v1/attestation-failures', () => {
  describe('with the defaults (revocation off)', () => {
    let svc: Service
    before(async () => { svc = await startService() })
    after(async () => { await svc.cleanup() })

    it('records reports from members (204) and revokes nobody', async () => {
      const victim = await enrollVia(svc, 'af-victim')
      for (const name of ['af-r1', 'af-r2', 'af-r3']) {
        const r = await call(svc, 'POST', '/v1/attestation-failures', { node_id: 'af-victim', serial: victim.serial, code: 'PCR_NOT_ALLOWED' }, { client: await enrollVia(svc, name) })
        expect(r.status, JSON.stringify(r.json)).to.equal(204)
      }
      expect(await svc.ca.isNodeRevoked('af-victim')).to.equal(false)
      expect(await revokedSerials(svc)).to.not.include(victim.serial)
      expect((await reports(svc)).filter(f => f.node_id === 'af-victim').map(f => f.reporter)).to.deep.equal(['af-r1', 'af-r2', 'af-r3'])
    })

    it('needs a node certificate: none is CLIENT_CERT_REQUIRED, an admin one CLIENT_CERT_WRONG_ROLE; nothing recorded', async () => {
      const victim = await enrollVia(svc, 'af-v2')
      const before = (await reports(svc)).length
      expectError(await call(svc, 'POST', '/v1/attestation-failures', { node_id: 'af-v2', serial: victim.serial, code: 'PCR_NOT_ALLOWED' }), 401, 'CLIENT_CERT_REQUIRED')
      expectError(await call(svc, 'POST', '/v1/attestation-failures', { node_id: 'af-v2', serial: victim.serial, code: 'PCR_NOT_ALLOWED' }, { client: await adminCred(svc) }), 401, 'CLIENT_CERT_WRONG_ROLE')
      expect((await reports(svc)).length).to.equal(before)
    })

    it('a serial this CA never issued to that node_id is UNKNOWN_SERIAL / INVALID_REQUEST; nothing recorded', async () => {
      const reporter = await enrollVia(svc, 'af-r4')
      const other = await enrollVia(svc, 'af-other')
      const before = (await reports(svc)).length
      expectError(await call(svc, 'POST', '/v1/attestation-failures', { node_id: 'af-other', serial: '7f' + '00'.repeat(15), code: 'PCR_NOT_ALLOWED' }, { client: reporter }), 404, 'UNKNOWN_SERIAL')
      expectError(await call(svc, 'POST', '/v1/attestation-failures', { node_id: 'af-victim', serial: other.serial, code: 'PCR_NOT_ALLOWED' }, { client: reporter }), 400, 'INVALID_REQUEST')
      expectError(await call(svc, 'POST', '/v1/attestation-failures', { node_id: 'af-other', serial: other.serial, code: 'not a code' }, { client: reporter }), 400, 'INVALID_REQUEST')
      expect((await reports(svc)).length).to.equal(before)
    })

    it('one client identity gets reports_per_minute (20) a minute, then RATE_LIMITED; the 21st is not recorded', async () => {
      const reporter = await enrollVia(svc, 'af-flood')
      const target = await enrollVia(svc, 'af-target')
      const body = { node_id: 'af-target', serial: target.serial, code: 'TIMEOUT' }
      for (let i = 0; i < 20; i++) {
        expect((await call(svc, 'POST', '/v1/attestation-failures', body, { client: reporter })).status).to.equal(204)
      }
      const before = (await reports(svc)).length
      expectError(await call(svc, 'POST', '/v1/attestation-failures', body, { client: reporter }), 429, 'RATE_LIMITED')
      expect((await reports(svc)).length).to.equal(before)
      // another member is not held back by that one
      expect((await call(svc, 'POST', '/v1/attestation-failures', body, { client: await enrollVia(svc, 'af-calm') })).status).to.equal(204)
    })
  })

  describe('with attestation.revoke_on_reported_failure on (2 distinct reporters)', () => {
    let svc: Service
    before(async () => {
      svc = await startService({ init: { config: { attestation: { revoke_on_reported_failure: true, reporters_to_revoke: 2 } } as any } })
    })
    after(async () => { await svc.cleanup() })

    it('one member reporting again and again does not revoke; network codes never count; a second distinct reporter revokes', async () => {
      const victim = await enrollVia(svc, 'rv-victim')
      const m1 = await enrollVia(svc, 'rv-m1')
      const m2 = await enrollVia(svc, 'rv-m2')
      const report = async (client: typeof m1, code: string): Promise<void> => {
        const r = await call(svc, 'POST', '/v1/attestation-failures', { node_id: 'rv-victim', serial: victim.serial, code }, { client })
        expect(r.status, JSON.stringify(r.json)).to.equal(204)
      }
      // 1. a single (possibly malicious) member, five times: not revoked
      for (let i = 0; i < 5; i++) { await report(m1, 'PCR_NOT_ALLOWED') }
      expect(await svc.ca.isNodeRevoked('rv-victim')).to.equal(false)
      // 2. a second member, with codes that describe the network, not the device: not revoked
      for (const code of ['TIMEOUT', 'CLOSED', 'RATE_LIMITED', 'PENDING_TIMEOUT', 'PROVER_FAILED']) { await report(m2, code) }
      expect(await svc.ca.isNodeRevoked('rv-victim')).to.equal(false)
      expect(await revokedSerials(svc)).to.not.include(victim.serial)
      // 3. the second member reports a device failure: two distinct reporters, revoked, on the CRL
      await report(m2, 'PCR_NOT_ALLOWED')
      expect(await svc.ca.isNodeRevoked('rv-victim')).to.equal(true)
      const crl = parseCrl(new Uint8Array((await call(svc, 'GET', '/v1/crl')).body))
      expect(crl.revoked.get(victim.serial)?.reason).to.equal('privilegeWithdrawn')
      // 4. a node cannot report itself into anyone's count, and a revoked node cannot report at all
      expectError(await call(svc, 'POST', '/v1/attestation-failures', { node_id: 'rv-m1', serial: m1.serial, code: 'PCR_NOT_ALLOWED' }, { client: victim }), 401, 'CLIENT_CERT_INVALID')
    })
  })
})
