import { expect } from 'aegir/chai'
import { AdminSocketClient } from '../../src/enrollment/admin-client.ts'
import { startAdminSocket } from '../../src/enrollment/admin-socket.ts'
import { adminCred, call, certCount, enrollVia, nodeCsr, startService } from './harness.ts'
import type { Service } from './harness.ts'
import type { CaEvent } from '../../src/enrollment/ca-events.ts'

function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).to.equal(status)
  expect(r.json.error.code).to.equal(code)
}

async function rejects (p: Promise<unknown>): Promise<any> {
  return p.then(() => { throw new Error('expected a rejection') }, (err: unknown) => err)
}

/**
 * Revoking a node_id the CA never issued to is most likely a typo: it would block a name nobody
 * holds and leave the node meant untouched. It is refused (UNKNOWN_NODE_ID) unless the operator
 * says block-unknown; `unblock` lifts a block. Each path (service, HTTP admin API, admin
 * socket) writes nothing on refusal and logs who acted.
 */
describe('enrollment service: revoking an unknown node_id, blocking and unblocking', () => {
  let svc: Service
  const events: CaEvent[] = []
  let crls = 0
  before(async () => {
    svc = await startService({ service: { events: { info: (e) => { events.push(e) } } } })
    svc.service.onRevocationCrl(() => { crls++ })
  })
  after(async () => { await svc.cleanup() })

  /** What a refused revocation must leave as it was. */
  async function snapshot (nodeId: string): Promise<unknown> {
    return {
      blocked: await svc.ca.isNodeRevoked(nodeId),
      epoch: await svc.ca.store.revocationEpoch(),
      // CRL rebuilds (when a client certificate is checked) are not revocations.
      audit: (await svc.ca.store.auditLog()).filter(e => e.action !== 'crl').length,
      crls,
      events: events.length
    }
  }

  it('revoke of a never-issued node_id is UNKNOWN_NODE_ID: nothing blocked, revoked, audited or published', async () => {
    const before = await snapshot('ghost-1')
    const err = await rejects(svc.service.revoke({ nodeId: 'ghost-1' }, svc.clock.now()))
    expect(err).to.include({ name: 'EnrollmentError', code: 'UNKNOWN_NODE_ID' })
    expect(await snapshot('ghost-1')).to.deep.equal(before)
  })

  it('with blockUnknown the node_id is blocked (enrollment NODE_REVOKED); unblock lifts it (enrollment works)', async () => {
    const r = await svc.service.revoke({ nodeId: 'ghost-2', blockUnknown: true, reason: 'privilegeWithdrawn' }, svc.clock.now())
    expect(r).to.deep.equal({ serials: [] })
    expect(await svc.ca.isNodeRevoked('ghost-2')).to.equal(true)
    expect(events.at(-1)).to.deep.equal({ event: 'revoked', serials: [], node_id: 'ghost-2', reason: 'privilegeWithdrawn', by: 'local-admin-socket' })
    const { token } = await svc.service.createToken({ ttlMs: 60_000, uses: 1 }, svc.clock.now())
    const count = await certCount(svc)
    expectError(await call(svc, 'POST', '/v1/enroll', { token, csr: (await nodeCsr('ghost-2')).csrPem }), 403, 'NODE_REVOKED')
    expect(await certCount(svc)).to.equal(count)

    await svc.service.unblockNode({ nodeId: 'ghost-2', by: 'operator-test' }, svc.clock.now())
    expect(events.at(-1)).to.deep.equal({ event: 'node-unblocked', node_id: 'ghost-2', by: 'operator-test' })
    expect(await svc.ca.isNodeRevoked('ghost-2')).to.equal(false)
    expect((await call(svc, 'POST', '/v1/enroll', { token, csr: (await nodeCsr('ghost-2')).csrPem })).status).to.equal(200)
  })

  it('unblock of a node_id that is not blocked is NODE_NOT_BLOCKED; of a malformed one INVALID_NODE_ID', async () => {
    const audit = (await svc.ca.store.auditLog()).length
    expect(await rejects(svc.service.unblockNode({ nodeId: 'never-blocked' }, svc.clock.now()))).to.include({ code: 'NODE_NOT_BLOCKED' })
    expect(await rejects(svc.service.unblockNode({ nodeId: '../x' }, svc.clock.now()))).to.include({ code: 'INVALID_NODE_ID' })
    expect((await svc.ca.store.auditLog()).length).to.equal(audit)
  })

  it('revoke of a known node_id revokes its certificates and logs serials, node_id, reason and who', async () => {
    const node = await enrollVia(svc, 'known-1')
    const r = await svc.service.revoke({ nodeId: 'known-1', reason: 'keyCompromise', by: 'local-admin-socket' }, svc.clock.now())
    expect(r.serials).to.deep.equal([node.serial])
    expect(events.at(-1)).to.deep.equal({ event: 'revoked', serials: [node.serial], node_id: 'known-1', reason: 'keyCompromise', by: 'local-admin-socket' })
    const one = await enrollVia(svc, 'known-2')
    await svc.service.revoke({ serialHex: one.serial }, svc.clock.now())
    expect(events.at(-1)).to.deep.equal({ event: 'revoked', serials: [one.serial], node_id: 'known-2', reason: 'unspecified', by: 'local-admin-socket' })
    const audit = (await svc.ca.store.auditLog()).filter(e => e.action === 'revoke' || e.action === 'revoke-node').at(-1)
    expect(audit?.fields).to.deep.include({ serial: one.serial, reason: 'unspecified', by: 'local-admin-socket' })
  })

  it('POST /v1/revoke (admin mTLS): unknown node_id is 404 UNKNOWN_NODE_ID; block_unknown blocks it; the log names the admin', async () => {
    const admin = await adminCred(svc, 'ops-unknown')
    const before = await snapshot('ghost-3')
    expectError(await call(svc, 'POST', '/v1/revoke', { node_id: 'ghost-3' }, { client: admin }), 404, 'UNKNOWN_NODE_ID')
    expect(await snapshot('ghost-3')).to.deep.equal(before)
    const r = await call(svc, 'POST', '/v1/revoke', { node_id: 'ghost-3', block_unknown: true, reason: 'affiliationChanged' }, { client: admin })
    expect(r.status, r.body.toString()).to.equal(204)
    expect(await svc.ca.isNodeRevoked('ghost-3')).to.equal(true)
    expect(events.at(-1)).to.deep.equal({ event: 'revoked', serials: [], node_id: 'ghost-3', reason: 'affiliationChanged', by: 'admin:ops-unknown' })
    // block_unknown is a boolean: anything else is refused by the schema.
    expectError(await call(svc, 'POST', '/v1/revoke', { node_id: 'ghost-4', block_unknown: 'yes' }, { client: admin }), 400, 'INVALID_REQUEST')
    expect(await svc.ca.isNodeRevoked('ghost-4')).to.equal(false)
  })

  it('through the admin socket: the same rule, and unblock; errors come back typed', async () => {
    const socket = await startAdminSocket({ dir: svc.dir, ops: svc.service, now: svc.clock.now })
    try {
      const client = await AdminSocketClient.connect(svc.dir)
      if (client == null) { throw new Error('no admin socket client') }
      const before = await snapshot('ghost-5')
      expect(await rejects(client.revoke({ nodeId: 'ghost-5' }))).to.include({ name: 'EnrollmentError', code: 'UNKNOWN_NODE_ID' })
      expect(await snapshot('ghost-5')).to.deep.equal(before)
      expect(await client.revoke({ nodeId: 'ghost-5', blockUnknown: true })).to.deep.equal({ serials: [] })
      expect(events.at(-1)).to.deep.equal({ event: 'revoked', serials: [], node_id: 'ghost-5', reason: 'unspecified', by: 'local-admin-socket' })
      await client.unblockNode({ nodeId: 'ghost-5' })
      expect(events.at(-1)).to.deep.equal({ event: 'node-unblocked', node_id: 'ghost-5', by: 'local-admin-socket' })
      expect(await svc.ca.isNodeRevoked('ghost-5')).to.equal(false)
      expect(await rejects(client.unblockNode({ nodeId: 'ghost-5' }))).to.include({ name: 'EnrollmentError', code: 'NODE_NOT_BLOCKED' })
    } finally {
      await socket.close()
    }
  })
})
