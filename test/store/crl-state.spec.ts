import { expect } from 'aegir/chai'
import { MemoryLevel } from 'memory-level'
import { CrlStateStore } from '../../src/store/crl-state.ts'
import { wrapStore } from '../../src/store/mesh-store.ts'
import type { MeshStore } from '../../src/store/mesh-store.ts'

/** The node's persisted CRL state: newest CRL per issuer, with the ETag it was fetched under. */
describe('store: CrlStateStore', function () {
  let store: MeshStore

  beforeEach(() => { store = wrapStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'json' }) as any) })
  afterEach(async () => { await store.close() })

  const crl = (issuerKey: string, n: bigint, etag?: string): Parameters<CrlStateStore['put']>[0] => ({
    der: new Uint8Array([0x30, Number(n)]), crlNumber: n, issuerKey, storedAt: 1000, url: 'https://ca/v1/crl', ...(etag != null ? { etag } : {})
  })

  it('keeps one CRL per issuer, round-trips every field, and lists them', async () => {
    const s = new CrlStateStore(store)
    expect(await s.put(crl('issuer-a', 3n, '"x"'))).to.equal(true)
    expect(await s.put(crl('issuer-b', 7n))).to.equal(true)
    expect(await s.put(crl('issuer-a', 4n, '"y"'))).to.equal(true)
    const a = await s.get('issuer-a')
    expect(a).to.deep.equal({ der: new Uint8Array([0x30, 4]), crlNumber: 4n, issuerKey: 'issuer-a', storedAt: 1000, url: 'https://ca/v1/crl', etag: '"y"' })
    expect((await s.list()).map(c => c.crlNumber).sort()).to.deep.equal([4n, 7n])
    expect(await s.get('issuer-c')).to.equal(undefined)
  })

  it('never replaces a CRL with a lower number; the same number may refresh its ETag', async () => {
    const s = new CrlStateStore(store)
    await s.put(crl('issuer-a', 9n, '"old"'))
    expect(await s.put(crl('issuer-a', 8n, '"older"'))).to.equal(false)
    expect((await s.get('issuer-a'))?.crlNumber).to.equal(9n)
    expect(await s.put(crl('issuer-a', 9n, '"new"'))).to.equal(true)
    expect((await s.get('issuer-a'))?.etag).to.equal('"new"')
  })

  it('skips a malformed record instead of failing the whole load', async () => {
    const s = new CrlStateStore(store)
    await s.put(crl('issuer-a', 1n))
    await store.sublevel<any>('node-crl').put('junk', { der: 5, crl_number: 'not a number' })
    expect((await s.list()).map(c => c.issuerKey)).to.deep.equal(['issuer-a'])
  })
})
