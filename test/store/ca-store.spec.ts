import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MemoryLevel } from 'memory-level'
import { CaStore, randomSerialHex } from '../../src/store/ca-store.ts'
import { openStore, wrapStore } from '../../src/store/mesh-store.ts'
import type { IssuedCertRecord } from '../../src/store/ca-store.ts'
import type { MeshStore, RootDb } from '../../src/store/mesh-store.ts'

function record (serialHex: string, nodeId = 'node-a'): IssuedCertRecord {
  return { serialHex, profile: 'node', subject: nodeId, nodeId, notBefore: 1000, notAfter: 2000, issuedAt: 1000, der: 'AA==' }
}

async function rejects (p: Promise<unknown>): Promise<any> {
  try { await p } catch (err) { return err }
  throw new Error('expected a rejection')
}

describe('store: CaStore', () => {
  let mesh: MeshStore
  let ca: CaStore
  beforeEach(async () => {
    mesh = wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb)
    ca = await CaStore.open(mesh)
  })
  afterEach(async () => { await mesh.close() })

  it('makes positive 16-byte serials with one hex form', () => {
    for (let i = 0; i < 200; i++) {
      const s = randomSerialHex()
      expect(s).to.match(/^[1-7][0-9a-f]{31}$/)
      expect(s.startsWith('00')).to.equal(false)
    }
  })

  it('stores a certificate by serial and by node_id, with an audit entry', async () => {
    const s1 = await ca.freshSerial()
    const s2 = await ca.freshSerial()
    await ca.recordIssued(record(s1))
    await ca.recordIssued(record(s2))
    await ca.recordIssued(record(await ca.freshSerial(), 'node-ab'))
    expect((await ca.getCert(s1))?.nodeId).to.equal('node-a')
    expect((await ca.certsByNode('node-a')).map(r => r.serialHex).sort()).to.deep.equal([s1, s2].sort())
    expect(await ca.countCerts()).to.equal(3)
    const log = await ca.auditLog()
    expect(log.map(e => e.seq)).to.deep.equal([0, 1, 2])
    expect(log[0]).to.include({ action: 'issue' })
  })

  it('refuses a serial collision (SERIAL_COLLISION) and stores nothing', async () => {
    const s = await ca.freshSerial()
    await ca.recordIssued(record(s))
    const err = await rejects(ca.recordIssued(record(s, 'node-b')))
    expect(err).to.include({ name: 'StoreError', code: 'SERIAL_COLLISION' })
    expect(await ca.countCerts()).to.equal(1)
    expect(await ca.certsByNode('node-b')).to.deep.equal([])
    expect((await ca.auditLog()).length).to.equal(1)
  })

  it('revokes idempotently and bumps the revocation epoch once per change', async () => {
    const s = await ca.freshSerial()
    await ca.recordIssued(record(s))
    const fields = { action: 'revoke', fields: {} }
    expect(await ca.revoke([{ serialHex: s, reason: 'keyCompromise', time: 5, profile: 'node', notAfter: 2000 }], 5, fields)).to.have.length(1)
    expect(await ca.revoke([{ serialHex: s, reason: 'superseded', time: 6, profile: 'node', notAfter: 2000 }], 6, fields)).to.have.length(0)
    expect(await ca.getRevocation(s)).to.include({ reason: 'keyCompromise', time: 5 })
    expect(await ca.revocationEpoch()).to.equal(1)
  })

  it('hands out CRL numbers that only rise', async () => {
    expect(await ca.nextCrlNumber('issuing')).to.equal(1)
    expect(await ca.nextCrlNumber('issuing')).to.equal(2)
    expect(await ca.nextCrlNumber('root')).to.equal(1)
    await ca.saveCrl('issuing', { crlNumber: 2, thisUpdate: 0, nextUpdate: 1, epoch: 0, der: '' }, 0)
    const err = await rejects(ca.saveCrl('issuing', { crlNumber: 2, thisUpdate: 0, nextUpdate: 1, epoch: 0, der: '' }, 0))
    expect(err).to.include({ code: 'CRL_NUMBER_NOT_MONOTONIC' })
  })

  it('serializes concurrent writers (no audit sequence is reused)', async () => {
    await Promise.all(Array.from({ length: 20 }, async (_, i) => ca.appendAudit(i, 'test', { i })))
    const log = await ca.auditLog()
    expect(log.map(e => e.seq)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i))
  })
})

describe('store: LevelDB persistence', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-store-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('keeps certificates, revocations, node blocks, CRL numbers and the audit log across a restart', async () => {
    let mesh = await openStore(join(dir, 'db'))
    let ca = await CaStore.open(mesh)
    const s = await ca.freshSerial()
    await ca.recordIssued(record(s))
    await ca.revoke([{ serialHex: s, reason: 'keyCompromise', time: 5, nodeId: 'node-a', profile: 'node', notAfter: 2000 }], 5, { action: 'revoke-node', fields: {} },
      { nodeId: 'node-a', reason: 'keyCompromise', time: 5 })
    await ca.nextCrlNumber('issuing')
    await mesh.close()

    mesh = await openStore(join(dir, 'db'))
    ca = await CaStore.open(mesh)
    expect((await ca.getCert(s))?.serialHex).to.equal(s)
    expect(await ca.getRevocation(s)).to.include({ reason: 'keyCompromise' })
    expect(await ca.nodeRevocation('node-a')).to.include({ nodeId: 'node-a' })
    expect(await ca.nextCrlNumber('issuing')).to.equal(2)
    await ca.appendAudit(9, 'after-restart')
    expect((await ca.auditLog()).map(e => e.seq)).to.deep.equal([0, 1, 2])
    expect(await rejects(ca.recordIssued(record(s)))).to.include({ code: 'SERIAL_COLLISION' })
    await mesh.close()
  })
})
